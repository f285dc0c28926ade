'use strict';
// allowed_origins: websockets from other origins are refused, listed ones
// are served, and HTTP answers carry CORS headers for allowed origins.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startRelay, stopRelay, request, waitFor } = require('./lib');

let relay;
const sockets = [];

before(async () => {
  relay = await startRelay({ relay: { allowed_origins: 'https://good.example' } });
});

after(async () => {
  for (const s of sockets) s.terminate();
  await stopRelay(relay);
});

function open(origin) {
  const ws = new WebSocket(`ws://127.0.0.1:${relay.port}/app/demo-key?protocol=7&client=js&version=8.6.0&flash=false`,
    { origin });
  sockets.push(ws);
  const st = { msgs: [], closed: null, failed: null };
  ws.on('message', (d) => st.msgs.push(JSON.parse(d.toString())));
  ws.on('close', (code) => {
    st.closed = code;
  });
  ws.on('error', (e) => {
    st.failed = e.message;
  });
  ws.on('unexpected-response', (req, res) => {
    st.failed = `HTTP ${res.statusCode}`;
    req.destroy();
  });
  return st;
}

test('websocket_from_allowed_origin_is_served', async () => {
  const st = open('https://good.example');
  await waitFor(() => st.msgs[0], 2000, 'connection_established');
  assert.equal(st.msgs[0].event, 'pusher:connection_established');
});

test('websocket_from_other_origin_is_refused_and_closed', async () => {
  const st = open('https://evil.example');
  await waitFor(() => st.failed || st.closed !== null, 2000, 'refusal and close');
  const err = st.msgs.find((m) => m.event === 'pusher:error');
  if (err) {
    assert.ok(err.data.code >= 4000 && err.data.code <= 4099,
      `origin refusal code ${err.data.code} should tell pusher-js not to retry`);
  }
  assert.ok(!st.msgs.some((m) => m.event === 'pusher_internal:subscription_succeeded'));
});

test('cors_preflight_for_allowed_origin_gets_allow_origin_header', async () => {
  const r = await request(relay.port, 'OPTIONS', '/apps/1/events', undefined, {
    origin: 'https://good.example',
    'access-control-request-method': 'POST',
  });
  assert.ok(r.status === 200 || r.status === 204, `preflight answered ${r.status}`);
  assert.equal(r.headers['access-control-allow-origin'], 'https://good.example');
});

test('cors_header_absent_for_other_origin', async () => {
  const r = await request(relay.port, 'GET', '/healthz', undefined,
    { origin: 'https://evil.example' });
  const h = r.headers['access-control-allow-origin'];
  assert.ok(h === undefined, `foreign origin allowed: ${h}`);
});
