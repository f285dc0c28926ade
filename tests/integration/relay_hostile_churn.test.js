'use strict';
// Issue 9, hostile tests: 20,000 connect/disconnect cycles (websockets that
// subscribe and vanish, HTTP requests, connections dropped before a byte)
// leave the relay's open files and RSS at their baseline, and a healthy
// pusher-js subscriber is served throughout.
//
// Bounded in count (SNO_CHURN_CYCLES, default 20000) and in time (45 s of
// cycling): on a slow (ASan) build the deadline ends the loop first and the
// test says how many cycles ran; it needs at least 2,000.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const {
  startRelay, stopRelay, connectPusher, sdkFor, subscribe, waitMessage, waitFor, request,
} = require('./lib');
const { frame } = require('./lib/rawws');
const { openFiles, rssKiB } = require('./lib/rawhttp');

const CYCLES = Number(process.env.SNO_CHURN_CYCLES || 20000);
const BUDGET_MS = 45000;
const PARALLEL = 32;
let relay;
let sdk;
let healthy;

before(async () => {
  // On an ASan build freed memory waits in a quarantine (256 MB) and would
  // read as growth; without it RSS means the same as on a release build.
  // (LeakSanitizer still checks the relay's exit, in stopRelay.)
  process.env.ASAN_OPTIONS = [process.env.ASAN_OPTIONS,
    'quarantine_size_mb=0', 'thread_local_quarantine_size_kb=0'].filter(Boolean).join(':');
  relay = await startRelay();
  sdk = sdkFor(relay);
  healthy = await connectPusher(relay);
  await subscribe(healthy, 'health');
});

after(async () => {
  if (healthy) healthy.disconnect();
  await stopRelay(relay);
});

async function assertHealthy() {
  assert.ok(relay.alive(), `relay died\n${relay.logs().slice(-3000)}`);
  assert.equal((await request(relay.port, 'GET', '/healthz')).status, 200);
  const tag = crypto.randomBytes(6).toString('hex');
  await sdk.trigger('health', 'check', { tag });
  await waitMessage(healthy, 'check', 'health', 1000, (m) => m.data.tag === tag);
}

// One cycle of kind i % 4: a websocket that subscribes then vanishes, a
// websocket closed right after the handshake, an HTTP request, a TCP
// connection dropped without a byte. Resolves when the socket is gone.
function cycle(i) {
  return new Promise((resolve) => {
    const kind = i % 4;
    const s = net.connect({ host: '127.0.0.1', port: relay.port });
    let buf = '';
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(end, 10000);
    s.on('error', end);
    s.on('close', end);
    s.on('connect', () => {
      if (kind === 3) {
        end();
      } else if (kind === 2) {
        s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      } else {
        s.write(`GET /app/${relay.app.key}?protocol=7&client=js&version=8.6.0 HTTP/1.1\r\n` +
          `Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n');
      }
    });
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (kind === 2 && buf.includes('"ok"')) end();
      if (kind === 1 && buf.includes('connection_established')) end();
      if (kind === 0 && buf.includes('connection_established') && !s.subscribed) {
        s.subscribed = true;
        s.write(frame({ payload: JSON.stringify({ event: 'pusher:subscribe',
          data: { channel: `churn-${i % 97}` } }) }));
      }
      if (kind === 0 && buf.includes('subscription_succeeded')) end();
    });
  });
}

// Run cycles from..to with PARALLEL in flight, until deadline; returns the
// number run.
async function churn(from, to, deadline) {
  let next = from;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < to && Date.now() < deadline) await cycle(next++);
  }));
  return next - from;
}

// The relay has let go of every churned connection: back to the count of
// files it holds with only the healthy client.
async function settled(files) {
  return waitFor(() => openFiles(relay.pid) <= files + 2, 20000,
    `open files back to ${files} (now ${openFiles(relay.pid)})`);
}

test('20000_connect_disconnect_cycles_leave_open_files_and_rss_at_baseline', async () => {
  // Warm-up: the allocator and lws reach their working size first.
  await churn(0, 1000, Date.now() + BUDGET_MS);
  const files0 = openFiles(relay.pid);
  await settled(files0);
  const rss0 = rssKiB(relay.pid);
  const deadline = Date.now() + BUDGET_MS;
  let ran = 0;
  // In rounds of 2,000, the service checked between them.
  while (ran < CYCLES && Date.now() < deadline) {
    ran += await churn(1000 + ran, 1000 + Math.min(CYCLES, ran + 2000), deadline);
    await assertHealthy();
  }
  console.log(`# churn: ${ran} cycles; open files ${files0} -> ${openFiles(relay.pid)}; ` +
    `rss ${rss0} KiB -> ${rssKiB(relay.pid)} KiB`);
  assert.ok(ran >= Math.min(CYCLES, 2000), `only ${ran} cycles ran`);
  await settled(files0);
  const rss = rssKiB(relay.pid);
  // glibc keeps some freed memory; a leak of even 1 KB per cycle is 20 MB.
  assert.ok(rss <= rss0 * 1.1 + 4096, `rss ${rss0} KiB -> ${rss} KiB after ${ran} cycles`);
  await assertHealthy();
});
