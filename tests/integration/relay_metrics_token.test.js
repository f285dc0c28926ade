'use strict';
// Issue 9.13: with [relay] metrics_token set, /metrics answers only a
// request bearing it (as Prometheus sends `authorization: Bearer ...`).
// Without it /metrics answers loopback peers only (relay_metrics.test.js
// reads it from 127.0.0.1).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startRelay, stopRelay, request, parseMetrics } = require('./lib');

const TOKEN = 'prom-scrape-token-0123456789';
let relay;

before(async () => {
  relay = await startRelay({ relay: { metrics_token: TOKEN } });
});

after(async () => {
  await stopRelay(relay);
});

test('metrics_without_the_token_is_401_with_a_bearer_challenge', async () => {
  const r = await request(relay.port, 'GET', '/metrics');
  assert.equal(r.status, 401);
  assert.match(r.headers['www-authenticate'] || '', /^Bearer/);
  assert.ok(!/sno_/.test(r.body), 'no metrics in the refusal');
});

test('metrics_with_a_wrong_token_is_401', async () => {
  for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`,
    'Bearer ', TOKEN]) {
    const r = await request(relay.port, 'GET', '/metrics', undefined, { authorization: auth });
    assert.equal(r.status, 401, `authorization: ${auth}`);
  }
});

test('metrics_with_the_token_is_served', async () => {
  const r = await request(relay.port, 'GET', '/metrics', undefined,
    { authorization: `Bearer ${TOKEN}` });
  assert.equal(r.status, 200);
  assert.ok(parseMetrics(r.body).size > 5, r.body.slice(0, 300));
});

test('healthz_needs_no_token', async () => {
  assert.equal((await request(relay.port, 'GET', '/healthz')).status, 200);
});
