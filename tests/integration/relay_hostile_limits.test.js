'use strict';
// Bounds on what an unauthenticated client can make the relay hold or do
// (docs/architecture.md, "Limits and caps"): a POST whose head already
// says it will be refused is answered before its body is read; bodies held
// across all connections have a budget (503 + Retry-After past it); a body
// must arrive within body_timeout_s (408). After every attack the relay
// answers /healthz and a healthy subscriber still gets a published event.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const {
  startRelay, stopRelay, connectPusher, sdkFor, subscribe, waitMessage,
  waitFor, request, sleep,
} = require('./lib');
const { rawHttp, rssKiB, cpuTicks } = require('./lib/rawhttp');
const { frame, connectFrames } = require('./lib/rawws');

const BUDGET = 4 * 1024 * 1024;	// max_body_bytes_in_flight
const BODY_TIMEOUT_S = 3;

let relay;
let sdk;
let healthy;
const open = new Set();	// sockets a test left open: destroyed after it

before(async () => {
  // ASan's quarantine would hold freed bodies and read as growth.
  process.env.ASAN_OPTIONS = [process.env.ASAN_OPTIONS,
    'quarantine_size_mb=0', 'thread_local_quarantine_size_kb=0'].filter(Boolean).join(':');
  relay = await startRelay({ relay: {
    max_body_bytes_in_flight: BUDGET, body_timeout_s: BODY_TIMEOUT_S,
  } });
  sdk = sdkFor(relay);
  healthy = await connectPusher(relay);
  await subscribe(healthy, 'health');
});

after(async () => {
  if (healthy) healthy.disconnect();
  await stopRelay(relay);
});

async function assertHealthy() {
  for (const s of open) s.destroy();
  open.clear();
  assert.ok(relay.alive(), `relay died\n${relay.logs().slice(-3000)}`);
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
  const tag = crypto.randomBytes(6).toString('hex');
  await sdk.trigger('health', 'check', { tag });
  await waitMessage(healthy, 'check', 'health', 2000, (m) => m.data.tag === tag);
}
afterEach(assertHealthy);

// A POST head to path with Content-Length len and no body.
function head(path, len, headers = {}) {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${len}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

// A query that passes every check a head allows: the app's (public) key, a
// fresh timestamp, a signature and body_md5 of the right shape.
function plausibleQuery(over = {}) {
  const q = {
    auth_key: relay.app.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: 'a'.repeat(32),
    auth_signature: 'b'.repeat(64),
    ...over,
  };
  return Object.entries(q).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`).join('&');
}

const TEN_MIB = 10 * 1024 * 1024;

test('a_10_mib_post_with_bad_credentials_is_refused_before_its_body', async () => {
  const cases = [
    [`/apps/${relay.app.id}/events?auth_key=nobody&auth_timestamp=0&auth_signature=00`,
      401, /Unknown auth_key/],
    [`/apps/999/events?${plausibleQuery()}`, 404, /Unknown app id/],
    [`/apps/${relay.app.id}/events?${plausibleQuery({ auth_timestamp: '1000' })}`,
      401, /Timestamp expired/],
    [`/apps/${relay.app.id}/events?${plausibleQuery({ auth_signature: 'zz' })}`,
      401, /Invalid signature/],
    [`/apps/${relay.app.id}/events?${plausibleQuery({ body_md5: undefined })}`,
      401, /body_md5/],
    [`/apps/${relay.app.id}/events?${plausibleQuery()}`, 413, /over \d+ bytes/, 64 * 1024 * 1024],
    ['/agent/v1/samples', 401, /missing X-Sno-Host/],
    ['/api/v1/pusher/auth', 403, /cross-origin/],
  ];
  for (const [path, status, re, len] of cases) {
    // Only the head is sent: without the answer now the wait runs out.
    const res = await rawHttp(relay.port, [head(path, len || TEN_MIB)], 1,
      { waitClose: true, timeoutMs: 5000 });
    assert.equal(res.responses.length, 1, `${path}: no answer to the head alone`);
    assert.equal(res.responses[0].status, status, `${path}: ${res.responses[0].body}`);
    assert.match(res.responses[0].body, re);
    assert.ok(res.closed, `${path}: connection left open`);
  }
});

test('bodies_held_across_connections_stay_within_the_budget', async () => {
  const N = 30;
  const LEN = 1024 * 1024;
  const path = `/apps/${relay.app.id}/events?${plausibleQuery()}`;
  const rss0 = rssKiB(relay.pid);
  const socks = [];
  for (let i = 0; i < N; i++) {
    const s = net.connect({ host: '127.0.0.1', port: relay.port });
    s.gone = false;
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      s.gone = true;
    });
    // 900 KiB of a 1 MiB body, then nothing: each would hold 1 MiB.
    s.write(head(path, LEN) + '{' + ' '.repeat(900 * 1024));
    socks.push(s);
    open.add(s);
  }
  // The budget holds about 4 of them; the others are refused and closed.
  await waitFor(() => socks.filter((s) => s.gone).length >= N - 8, 20000,
    'the connections past the budget closed');
  const rss = rssKiB(relay.pid);
  assert.ok(rss < rss0 + 16 * 1024, `rss ${rss0} KiB -> ${rss} KiB`);
  // A new body that does not fit is refused at its head, with Retry-After.
  const res = await rawHttp(relay.port, [head(path, BUDGET)], 1,
    { waitClose: true, timeoutMs: 5000 });
  assert.equal(res.responses.length, 1, 'no answer to a head past the budget');
  assert.equal(res.responses[0].status, 503);
  assert.equal(res.responses[0].headers['retry-after'], '1');
  assert.ok(res.closed);
});

test('a_body_trickled_past_body_timeout_s_gets_408_and_is_closed', async () => {
  const path = `/apps/${relay.app.id}/events?${plausibleQuery()}`;
  const s = net.connect({ host: '127.0.0.1', port: relay.port });
  open.add(s);
  let got = Buffer.alloc(0);
  let closed = false;
  s.on('error', () => {});
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
  });
  s.on('close', () => {
    closed = true;
  });
  s.write(head(path, 100000) + '{');
  // One byte a second, far below any real client; bounded by waitFor.
  const timer = setInterval(() => {
    if (!closed) s.write(' ');
  }, 1000);
  try {
    await waitFor(() => closed, (BODY_TIMEOUT_S + 10) * 1000,
      'the trickling connection closed');
  } finally {
    clearInterval(timer);
  }
  assert.match(got.toString('latin1'), /^HTTP\/1\.1 408/);
});

test('unfinished_websocket_messages_share_the_budget', async () => {
  // Each holds an unfinished ~900 KB fragmented message (FIN=0), then
  // goes quiet: without a relay-wide bound each pins 1 MiB.
  const N = 24;
  const rss0 = rssKiB(relay.pid);
  const part = '{"event":"client-x","channel":"private-a","data":"' + 'a'.repeat(900000);
  const conns = [];
  for (let i = 0; i < N; i++) {
    const c = await connectFrames(relay);
    open.add(c.sock);
    c.send(frame({ fin: false, payload: part }));
    conns.push(c);
  }
  // The budget (4 MiB) holds about 4; the others are closed 1013.
  await waitFor(() => conns.filter((c) => c.closeCode === 1013).length >= N - 8, 20000,
    'the connections past the budget closed 1013');
  const rss = rssKiB(relay.pid);
  assert.ok(rss < rss0 + 16 * 1024, `rss ${rss0} KiB -> ${rss} KiB`);
});

test('out_of_file_descriptors_the_relay_does_not_spin_and_accepts_again', async () => {
  // 64 descriptors, 150 clients: accept fails with EMFILE. lws 4.1.6 left
  // the listener readable and polled it flat out until clients left.
  const small = await startRelay({ nofile: 64 });
  const socks = [];
  try {
    for (let i = 0; i < 150; i++) {
      const s = net.connect({ host: '127.0.0.1', port: small.port });
      s.on('error', () => {});
      s.on('data', () => {});
      socks.push(s);
    }
    await waitFor(() => socks.every((s) => !s.connecting), 20000, '150 connections');
    await waitFor(() => /accept(=failed|: errno)/.test(small.logs()), 10000,
      'the relay running out of descriptors');
    const ticks = cpuTicks(small.pid);
    // Fixed window: a spinning loop shows at once; 1 s is 100 clock ticks.
    await sleep(1000);
    const used = cpuTicks(small.pid) - ticks;
    assert.ok(used < 30, `relay used ${used} ticks of CPU in 1 s while out of descriptors`);
    const lines = small.logs().split('\n').filter((l) => /accept/.test(l)).length;
    assert.ok(lines < 20, `${lines} log lines about failed accepts`);
    for (const s of socks) s.destroy();
    // Once the clients leave it serves again.
    await waitFor(async () => {
      const r = await rawHttp(small.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], 1,
        { timeoutMs: 2000 });
      return r.responses.length === 1 && r.responses[0].status === 200;
    }, 10000, '/healthz answering again');
  } finally {
    for (const s of socks) s.destroy();
    await stopRelay(small);
  }
});
