'use strict';
// /metrics (Prometheus text) and /healthz: the counts match what the test
// did on a fresh relay.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, sdkFor, subscribe, messages, waitMessage,
  disconnectAll, waitFor, scrapeMetrics, metric, request,
  startWebhookReceiver, freePort, DEMO_APP,
} = require('./lib');

let relay;
let sdk;
let rx;
const clients = [];

before(async () => {
  rx = await startWebhookReceiver();
  const deadPort = await freePort(); // nothing listens here: webhooks fail
  relay = await startRelay({
    apps: [
      { ...DEMO_APP, webhook_url: rx.url },
      { name: 'broken', id: '2', key: 'broken-key', secret: 'broken-secret',
        client_events: 'yes', webhook_url: `http://127.0.0.1:${deadPort}/hooks` },
    ],
  });
  sdk = sdkFor(relay);
});

after(async () => {
  disconnectAll(clients);
  await stopRelay(relay);
  if (rx) await rx.close();
});

const v = (m, name, labels) => metric(m, name, labels);

test('healthz_answers_200', async () => {
  const r = await request(relay.port, 'GET', '/healthz');
  assert.equal(r.status, 200);
});

test('metrics_is_prometheus_text_with_every_series', async () => {
  const r = await request(relay.port, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain/);
  const m = await scrapeMetrics(relay);
  for (const name of ['sno_connections', 'sno_connections_total', 'sno_subscriptions',
    'sno_channels', 'sno_events_delivered_total', 'sno_bytes_sent_total',
    'sno_publish_seconds_sum', 'sno_publish_seconds_count',
    'sno_slow_consumer_disconnects_total', 'sno_auth_failures_total',
    'sno_webhook_failures_total', 'sno_webhooks_sent_total']) {
    assert.notEqual(v(m, name), undefined, `missing series ${name}\n${m.text}`);
  }
  assert.notEqual(v(m, 'sno_events_received_total', { source: 'http' }), undefined);
  assert.notEqual(v(m, 'sno_events_received_total', { source: 'client' }), undefined);
  assert.notEqual(v(m, 'sno_publish_seconds_bucket', { le: '+Inf' }), undefined,
    `missing +Inf bucket\n${m.text}`);
  assert.match(m.text, /# TYPE sno_connections gauge/);
  assert.match(m.text, /# TYPE sno_publish_seconds histogram/);
  assert.match(m.text, /# TYPE sno_connections_total counter/);
});

test('metrics_has_a_loop_turn_histogram_whose_count_grows', async () => {
  const m0 = await scrapeMetrics(relay);
  assert.match(m0.text, /# TYPE sno_loop_turn_seconds histogram/);
  assert.match(m0.text, /# TYPE sno_loop_turn_max_seconds gauge/);
  for (const le of ['0.0005', '0.1', '+Inf']) {
    assert.notEqual(v(m0, 'sno_loop_turn_seconds_bucket', { le }), undefined,
      `missing le=${le} bucket\n${m0.text}`);
  }
  assert.notEqual(v(m0, 'sno_loop_turn_seconds_sum'), undefined);
  assert.notEqual(v(m0, 'sno_loop_turn_max_seconds'), undefined);
  const n0 = v(m0, 'sno_loop_turn_seconds_count');
  assert.ok(n0 > 0, `no loop turn counted\n${m0.text}`);
  // Each scrape is served in loop turns of its own: the count grows.
  const m1 = await scrapeMetrics(relay);
  const n1 = v(m1, 'sno_loop_turn_seconds_count');
  assert.ok(n1 > n0, `turn count did not grow: ${n0} -> ${n1}`);
  assert.equal(v(m1, 'sno_loop_turn_seconds_bucket', { le: '+Inf' }), n1);
});

test('metrics_has_the_cpu_time_of_the_same_turns_never_more_than_their_length', async () => {
  const m = await scrapeMetrics(relay);
  assert.match(m.text, /# TYPE sno_loop_turn_cpu_seconds histogram/);
  assert.match(m.text, /# TYPE sno_loop_turn_cpu_max_seconds gauge/);
  // Both histograms are read in the same turn: the same turns counted.
  const n = v(m, 'sno_loop_turn_seconds_count');
  assert.equal(v(m, 'sno_loop_turn_cpu_seconds_count'), n);
  assert.equal(v(m, 'sno_loop_turn_cpu_seconds_bucket', { le: '+Inf' }), n);
  // One thread cannot use more CPU than the time that passed (1 us of
  // rounding a turn).
  const cpu = v(m, 'sno_loop_turn_cpu_seconds_sum');
  const wall = v(m, 'sno_loop_turn_seconds_sum');
  assert.ok(cpu > 0, `no CPU time counted\n${m.text}`);
  assert.ok(cpu <= wall + n * 1e-6, `CPU ${cpu} s > wall ${wall} s`);
  assert.ok(v(m, 'sno_loop_turn_cpu_max_seconds') <=
    v(m, 'sno_loop_turn_max_seconds') + 1e-6);
});

test('metrics_counts_match_connections_subscriptions_events_and_auth_failures', async () => {
  const m0 = await scrapeMetrics(relay);
  const connTotal0 = v(m0, 'sno_connections_total');
  const conns0 = v(m0, 'sno_connections');

  // Three connections, all on one public channel (K = 3).
  const cs = [];
  for (let i = 0; i < 3; i++) {
    const c = await connectPusher(relay);
    clients.push(c);
    cs.push(c);
    await subscribe(c, 'metered');
  }
  // Two of them also on a private channel.
  await subscribe(cs[0], 'private-metered');
  await subscribe(cs[1], 'private-metered');

  let m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_connections'), conns0 + 3, m.text);
  assert.equal(v(m, 'sno_connections_total'), connTotal0 + 3);
  assert.equal(v(m, 'sno_subscriptions'), 5);
  assert.equal(v(m, 'sno_channels'), 2);

  // N = 4 HTTP events to K = 3 subscribers.
  const N = 4;
  const K = 3;
  const payload = 'q'.repeat(1000);
  const before = m;
  for (let i = 0; i < N; i++) await sdk.trigger('metered', 'tick', { i, payload });
  for (const c of cs) {
    await waitFor(() => messages(c, 'tick', 'metered').length === N, 2000, 'ticks');
  }
  m = await scrapeMetrics(relay);
  const d = (name, labels) => v(m, name, labels) - v(before, name, labels);
  assert.equal(d('sno_events_received_total', { source: 'http' }), N);
  assert.equal(d('sno_events_received_total', { source: 'client' }), 0);
  assert.equal(d('sno_events_delivered_total'), N * K);
  assert.ok(d('sno_bytes_sent_total') >= N * K * payload.length,
    `bytes_sent grew ${d('sno_bytes_sent_total')}, want >= ${N * K * payload.length}`);
  assert.equal(d('sno_publish_seconds_count'), N);
  assert.equal(d('sno_publish_seconds_bucket', { le: '+Inf' }), N);
  assert.ok(d('sno_publish_seconds_sum') >= 0);
  assert.equal(v(m, 'sno_publish_seconds_bucket', { le: '+Inf' }),
    v(m, 'sno_publish_seconds_count'));

  // Reads whose path merely contains "events" are not publishes.
  const p0 = v(m, 'sno_publish_seconds_count');
  assert.equal((await sdk.get({ path: '/channels/metered-events' })).status, 200);
  assert.equal((await sdk.get({ path: '/channels', params: { filter_by_prefix: 'events' } })).status, 200);
  m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_publish_seconds_count'), p0);

  // One client event to the other private subscriber (delivered once).
  const b2 = await scrapeMetrics(relay);
  cs[0].channel('private-metered').trigger('client-x', { y: 1 });
  await waitMessage(cs[1], 'client-x', 'private-metered', 2000);
  // Both counters move in the fanout that sent cs[1] the event: no wait.
  m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_events_received_total', { source: 'client' }) -
    v(b2, 'sno_events_received_total', { source: 'client' }), 1);
  assert.equal(v(m, 'sno_events_delivered_total') - v(b2, 'sno_events_delivered_total'), 1);

  // One bad private subscribe: one auth failure.
  const authBefore = v(m, 'sno_auth_failures_total');
  const bad = await connectPusher(relay, { authSecret: 'wrong' });
  clients.push(bad);
  bad.subscribe('private-denied');
  await waitMessage(bad, 'pusher:subscription_error', 'private-denied', 2000);
  m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_auth_failures_total') - authBefore, 1);
  assert.equal(v(m, 'sno_connections'), conns0 + 4);

  // Closing two connections brings the gauge down, totals stay.
  cs[2].disconnect();
  bad.disconnect();
  await waitFor(async () => v(await scrapeMetrics(relay), 'sno_connections') === conns0 + 2,
    2000, 'connections gauge to drop');
  m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_connections_total'), connTotal0 + 4);
  assert.equal(v(m, 'sno_subscriptions'), 4);
});

test('metrics_count_webhooks_sent_and_failed', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  await subscribe(c, 'hooked');
  await waitFor(() => rx.events().some((e) => e.channel === 'hooked'), 3000, 'webhook');
  await waitFor(async () => v(await scrapeMetrics(relay), 'sno_webhooks_sent_total') >=
    rx.hooks.length, 2000, 'webhooks_sent_total to catch up');
  let m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_webhooks_sent_total'), rx.hooks.length,
    'sent counter equals what the receiver got');

  // App 2's webhook_url refuses connections: failures are counted.
  const broken = { ...relay, app: relay.apps[1] };
  const b = await connectPusher(broken);
  clients.push(b);
  await subscribe(b, 'hooked-broken');
  await waitFor(async () => v(await scrapeMetrics(relay), 'sno_webhook_failures_total') >= 1,
    4000, 'webhook failure to be counted');
  m = await scrapeMetrics(relay);
  assert.equal(v(m, 'sno_webhooks_sent_total'), rx.hooks.length);
});
