'use strict';
// Bad input over a raw websocket and over HTTP. Each case gets a clear
// pusher:error (or subscription_error, or an HTTP 4xx with a JSON error), and
// afterwards the relay is still up and a healthy pusher-js client still
// receives an SDK-triggered event.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, subscribe, messages,
  waitMessage, disconnectAll, waitFor, signedRequest, request, eventBarrier,
} = require('./lib');

const MAX = 65536;
let relay;
let sdk;
let healthy;
const clients = [];

before(async () => {
  relay = await startRelay({ relay: { max_message_bytes: MAX } });
  sdk = sdkFor(relay);
  healthy = await connectPusher(relay);
  await subscribe(healthy, 'health');
});

after(async () => {
  disconnectAll(clients);
  if (healthy) healthy.disconnect();
  await stopRelay(relay);
});

// After every case: process alive, /healthz 200, healthy client still served.
afterEach(async () => {
  assert.ok(relay.alive(), `relay died: ${JSON.stringify(relay.exitInfo())}\n${relay.logs()}`);
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
  const tag = `t${Date.now()}${Math.random()}`;
  await sdk.trigger('health', 'check', { tag });
  await waitMessage(healthy, 'check', 'health', 2000, (m) => m.data.tag === tag);
  assert.equal(healthy.connection.state, 'connected');
});

async function raw() {
  const r = await connectRaw(relay);
  clients.push(r);
  return r;
}

// The next pusher:error after index from; checks its shape.
async function nextError(r, from, kinds = ['pusher:error']) {
  const m = await waitFor(() => r.msgs.slice(from).find((x) => kinds.includes(x.event)),
    2000, `${kinds.join(' or ')} (got ${JSON.stringify(r.msgs.slice(from))}, ` +
    `closed ${JSON.stringify(r.closed)})`);
  if (m.event === 'pusher:error') {
    assert.equal(typeof m.data, 'object', `error data: ${JSON.stringify(m.rawData)}`);
    assert.equal(typeof m.data.message, 'string');
    assert.ok(m.data.message.length > 0, 'error message explains');
    assert.ok(m.data.code === null || m.data.code === undefined ||
      (m.data.code >= 4000 && m.data.code < 5000), `code ${m.data.code}`);
  }
  return m;
}

async function stillServes(r) {
  assert.ok(r.isOpen(), `connection closed: ${JSON.stringify(r.closed)}`);
  const from = r.msgs.length;
  r.send({ event: 'pusher:ping', data: {} });
  await waitFor(() => r.msgs.slice(from).find((m) => m.event === 'pusher:pong'), 2000,
    'pong after bad input');
}

test('malformed_json_gets_pusher_error_and_connection_stays_open', async () => {
  const r = await raw();
  r.send('{"event": "pusher:subscribe", "data": {');
  await nextError(r, 1);
  await stillServes(r);
});

test('non_object_json_gets_pusher_error', async () => {
  const r = await raw();
  r.send('[1,2,3]');
  await nextError(r, 1);
  await stillServes(r);
});

test('message_without_event_gets_pusher_error', async () => {
  const r = await raw();
  r.send({ data: { channel: 'x' } });
  await nextError(r, 1);
  await stillServes(r);
});

test('unknown_pusher_event_gets_pusher_error', async () => {
  const r = await raw();
  r.send({ event: 'pusher:frobnicate', data: {} });
  await nextError(r, 1);
  await stillServes(r);
});

test('binary_frame_gets_pusher_error', async () => {
  const r = await raw();
  r.ws.send(Buffer.from('{"event":"pusher:ping","data":{}}'), { binary: true });
  const m = await nextError(r, 1);
  assert.equal(messages(r, 'pusher:pong').length, 0, 'binary frame was processed');
  assert.ok(m);
  if (r.closed) {
    const c = r.closed.code;
    assert.ok(!((c >= 4001 && c <= 4099) || c >= 4300), `close code ${c} stops pusher-js`);
  }
});

test('frame_over_max_message_bytes_gets_pusher_error', async () => {
  const r = await raw();
  const big = JSON.stringify({ event: 'pusher:ping', data: { pad: 'x'.repeat(2 * MAX) } });
  r.send(big);
  await nextError(r, 1);
  assert.equal(messages(r, 'pusher:pong').length, 0, 'oversized frame was processed');
  if (r.closed) {
    const c = r.closed.code;
    assert.notEqual(c, 1009, 'oversize must be a pusher:error, not a bare 1009 close');
    assert.ok(!((c >= 4001 && c <= 4099) || c >= 4300), `close code ${c} stops pusher-js`);
  }
});

test('client_event_over_max_message_bytes_is_refused_not_delivered', async () => {
  const ch = 'private-big-client';
  const a = await connectPusher(relay);
  const b = await connectPusher(relay);
  clients.push(a, b);
  const chA = await subscribe(a, ch);
  await subscribe(b, ch);
  chA.trigger('client-big', { pad: 'y'.repeat(MAX + 1024) });
  await waitMessage(a, 'pusher:error', undefined, 2000); // the relay handled it
  await eventBarrier(sdk, ch, [b]);
  assert.equal(messages(b, 'client-big').length, 0);
});

test('invalid_utf8_in_text_frame_gets_pusher_error_and_connection_stays_open', async () => {
  const r = await raw();
  // {"event":"pusher:ping","data":{"x":"<C3 28>"}}: valid JSON, invalid UTF-8.
  const bytes = Buffer.concat([
    Buffer.from('{"event":"pusher:ping","data":{"x":"'),
    Buffer.from([0xc3, 0x28]),
    Buffer.from('"}}'),
  ]);
  r.ws.send(bytes, { binary: false });
  // RFC 6455 lets a server close with 1007; the relay intends pusher:error.
  await nextError(r, 1);
  assert.equal(messages(r, 'pusher:pong').length, 0, 'invalid UTF-8 frame was processed');
  await stillServes(r);
});

test('invalid_channel_name_gets_subscription_error', async () => {
  const r = await raw();
  r.send({ event: 'pusher:subscribe', data: { channel: 'bad name!' } });
  await nextError(r, 1, ['pusher:error', 'pusher:subscription_error']);
  assert.equal(messages(r, 'pusher_internal:subscription_succeeded').length, 0);
  await stillServes(r);
});

test('over_long_channel_name_gets_subscription_error', async () => {
  // Hosted Pusher's limit on subscribe is 164 characters (issue 9, defect 11).
  const r = await raw();
  r.send({ event: 'pusher:subscribe', data: { channel: 'a'.repeat(165) } });
  await nextError(r, 1, ['pusher:error', 'pusher:subscription_error']);
  assert.equal(messages(r, 'pusher_internal:subscription_succeeded').length, 0);
  await stillServes(r);
});

test('subscribe_without_channel_gets_pusher_error', async () => {
  const r = await raw();
  r.send({ event: 'pusher:subscribe', data: {} });
  await nextError(r, 1, ['pusher:error', 'pusher:subscription_error']);
  await stillServes(r);
});

test('channel_name_with_full_charset_and_164_chars_is_accepted', async () => {
  const r = await raw();
  const name = 'ok_-=@,.;' + 'z'.repeat(164 - 9);
  assert.equal(name.length, 164);
  r.send({ event: 'pusher:subscribe', data: { channel: name } });
  await waitMessage(r, 'pusher_internal:subscription_succeeded', name, 2000);
  await sdk.trigger(name, 'fine', {});
  await waitMessage(r, 'fine', name, 2000);
});

test('subscribe_data_as_json_string_is_accepted', async () => {
  const r = await raw();
  r.send({ event: 'pusher:subscribe', data: JSON.stringify({ channel: 'stringly' }) });
  await waitMessage(r, 'pusher_internal:subscription_succeeded', 'stringly', 2000);
});

test('http_malformed_json_body_is_400', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/1/events', '{"name": "x", "data":');
  assert.equal(res.status, 400, res.body);
  assert.equal(typeof res.json.error, 'string');
});

test('http_trigger_without_name_is_400', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/1/events', { data: '{}', channel: 'a' });
  assert.equal(res.status, 400, res.body);
  assert.equal(typeof res.json.error, 'string');
});

test('http_trigger_to_invalid_channel_name_is_400', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channels: ['bad name!'] });
  assert.equal(res.status, 400, res.body);
  assert.equal(typeof res.json.error, 'string');
});

test('http_trigger_to_over_long_channel_name_is_400', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channels: ['c'.repeat(201)] });
  assert.equal(res.status, 400, res.body);
});

test('http_trigger_with_over_long_event_name_is_400', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'e'.repeat(201), data: '{}', channel: 'a' });
  assert.equal(res.status, 400, res.body);
});

test('http_body_with_invalid_utf8_is_400', async () => {
  const body = Buffer.concat([Buffer.from('{"name":"x","channel":"a","data":"'),
    Buffer.from([0xff, 0xfe]), Buffer.from('"}')]).toString('latin1');
  // Sign over the exact bytes: build it by hand with a latin1 round trip.
  const crypto = require('node:crypto');
  const raw = Buffer.from(body, 'latin1');
  const ts = String(Math.floor(Date.now() / 1000));
  const md5 = crypto.createHash('md5').update(raw).digest('hex');
  const q = `auth_key=demo-key&auth_timestamp=${ts}&auth_version=1.0&body_md5=${md5}`;
  const sig = crypto.createHmac('sha256', 'demo-secret')
    .update(`POST\n/apps/1/events\n${q}`).digest('hex');
  const http = require('node:http');
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: relay.port, method: 'POST',
      path: `/apps/1/events?${q}&auth_signature=${sig}`,
      headers: { 'content-type': 'application/json', 'content-length': raw.length } },
    (rs) => {
      let t = '';
      rs.on('data', (d) => { t += d; });
      rs.on('end', () => resolve({ status: rs.statusCode, body: t }));
    });
    req.on('error', reject);
    req.end(raw);
  });
  assert.equal(res.status, 400, res.body);
});

test('http_trigger_to_more_than_100_channels_is_400', async () => {
  const chans = Array.from({ length: 101 }, (_, i) => `many-${i}`);
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channels: chans });
  assert.equal(res.status, 400, res.body);
  assert.equal(typeof res.json.error, 'string');
});

test('http_batch_with_invalid_entry_is_400', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/1/batch_events',
    { batch: [{ name: 'ok', data: '{}', channel: 'a' }, { data: '{}', channel: 'b' }] });
  assert.equal(res.status, 400, res.body);
});

test('http_unknown_app_id_is_refused', async () => {
  const res = await signedRequest(relay, 'POST', '/apps/999/events',
    { name: 'x', data: '{}', channel: 'a' });
  assert.ok(res.status === 404 || res.status === 401, `got ${res.status}: ${res.body}`);
});

test('http_unknown_path_is_404', async () => {
  const res = await request(relay.port, 'GET', '/no/such/path');
  assert.equal(res.status, 404);
});
