'use strict';
// Issue 9: HTTP a hostile or unusual client sends, against a real relay:
// pipelined requests, request framing that smuggles, slowloris, header
// bombs, idle connections, log floods. After every attack the relay answers
// /healthz and a healthy pusher-js subscriber still gets a published event
// within 1 s.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const {
  connectPusher, sdkFor, subscribe, waitMessage, waitFor, sleep, request, signedPublishText,
} = require('./lib');
const sno = require('./lib/sno');
const { rawHttp, httpText, cpuTicks } = require('./lib/rawhttp');

let relay;
let sdk;
let healthy;

before(async () => {
  relay = await sno.startSnoRelay([]);
  sdk = sdkFor(relay);
  healthy = await connectPusher(relay);
  await subscribe(healthy, 'health');
});

after(async () => {
  if (healthy) healthy.disconnect();
  if (relay) {
    const exit = await relay.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `relay exit ${JSON.stringify(exit)}`);
    assert.ok(!/Sanitizer|runtime error/.test(relay.logs()), relay.logs().slice(-3000));
  }
});

// Alive, /healthz 200, the healthy subscriber served within 1 s of the
// publish. Run after every attack, and during the long ones.
async function assertHealthy() {
  assert.ok(relay.alive(), `relay died\n${relay.logs().slice(-3000)}`);
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
  const tag = crypto.randomBytes(6).toString('hex');
  await sdk.trigger('health', 'check', { tag });
  await waitMessage(healthy, 'check', 'health', 1000, (m) => m.data.tag === tag);
}
afterEach(assertHealthy);

// n sockets to the relay, connected; each gets an error handler.
async function sockets(n) {
  const list = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: '127.0.0.1', port: relay.port });
    s.on('error', () => {});
    s.on('data', () => {});
    s.ended = false;
    s.on('close', () => {
      s.ended = true;
    });
    list.push(s);
  }
  await waitFor(() => list.every((s) => !s.connecting), 20000, `${n} connections`);
  return list;
}

// Unsigned publish: a 401 from the HTTP API, cheap to send many of.
const POST_UNSIGNED = httpText('POST', '/apps/sno/events?auth_key=x', '{}');
const GET_HEALTH = httpText('GET', '/healthz');

// A publish signed the way the SDK does it, as raw request text.
function signedPublish(channel, data) {
  return signedPublishText(relay, channel, data);
}

// The relay's log must not run away after an attack (issue 9.1: ~100 MB/s).
async function logStaysQuiet() {
  const before = relay.logs().length;
  const ticks = cpuTicks(relay.pid);
  // Fixed wait: a busy loop shows within a few ms; 500 ms is 50 clock ticks.
  await sleep(500);
  const grew = relay.logs().length - before;
  assert.ok(grew < 20000, `log grew by ${grew} bytes in 500 ms with nothing sent`);
  const used = cpuTicks(relay.pid) - ticks;
  assert.ok(used < 40, `relay used ${used} ticks of CPU in 500 ms with nothing sent`);
}

test('pipelined_gets_are_answered_in_order', async () => {
  const r = await rawHttp(relay.port, [GET_HEALTH + httpText('GET', '/nope') + GET_HEALTH], 3);
  assert.deepEqual(r.responses.map((x) => x.status), [200, 404, 200]);
  assert.equal(r.closed, false, 'keep-alive connection stays open');
});

// A request with a body pipelined behind another is answered as itself,
// in order, and the connection stays open (libwebsockets 4.1.6 once
// mis-read it: relay/lws_pipeline.c, docs/architecture.md "What
// libwebsockets 4.1.6 cannot do"); relay_pipelining.test.js has more.
function assertPipelinedBody(r, i, status) {
  const st = r.responses.map((x) => x.status);
  assert.ok(st.length >= i + 1, `answers ${JSON.stringify(st)}; closed ${r.closed}`);
  assert.equal(st[i], status, JSON.stringify(st));
  assert.equal(r.closed, false, 'keep-alive connection stays open');
}

test('pipelined_posts_are_each_answered_in_order', async () => {
  const r = await rawHttp(relay.port, [POST_UNSIGNED + POST_UNSIGNED], 2,
    { timeoutMs: 5000 });
  assert.equal(r.responses[0].status, 401);
  assertPipelinedBody(r, 1, 401);
  await logStaysQuiet();
});

test('three_pipelined_posts_are_answered_in_order', async () => {
  const r = await rawHttp(relay.port, [POST_UNSIGNED.repeat(3)], 3,
    { timeoutMs: 5000 });
  assert.equal(r.responses[0].status, 401);
  assertPipelinedBody(r, 1, 401);
  assertPipelinedBody(r, 2, 401);
  await logStaysQuiet();
});

test('get_then_pipelined_post_is_answered_in_order', async () => {
  const r = await rawHttp(relay.port, [GET_HEALTH + POST_UNSIGNED], 2,
    { timeoutMs: 5000 });
  assert.equal(r.responses[0].status, 200);
  assertPipelinedBody(r, 1, 401);
  await logStaysQuiet();
});

// The pipelined POST's head arrives with the request before it, its body
// (larger than what lws kept) later: lws 4.1.6 once handed the relay bytes
// from a buffer it had freed (ASan: heap-use-after-free) and the relay
// dispatched them as the body (a signed publish got 401, body_md5). The
// after() hook checks the ASan build's log.
test('pipelined_post_whose_body_arrives_later_is_never_read_wrong', async () => {
  for (const extra of [0, 10]) {
    const tag = `late${extra}${crypto.randomBytes(4).toString('hex')}`;
    const post = signedPublish('health', { tag, pad: 'x'.repeat(3000) });
    const cut = post.indexOf('\r\n\r\n') + 4 + extra;
    const r = await rawHttp(relay.port, [GET_HEALTH + post.slice(0, cut),
      async () => sleep(50), post.slice(cut)], 2, { timeoutMs: 5000 });
    assert.equal(r.responses[0].status, 200);
    assertPipelinedBody(r, 1, 200);
    await waitMessage(healthy, 'ev', 'health', 2000, (m) => m.data.tag === tag);
  }
  await logStaysQuiet();
});

// sno_http_requests_total, read through /metrics (open on loopback).
async function httpRequestsServed() {
  const m = await request(relay.port, 'GET', '/metrics');
  return Number(/^sno_http_requests_total (\d+)$/m.exec(m.body)[1]);
}

test('a_get_with_a_body_is_answered_and_served_once', async () => {
  const before = await httpRequestsServed();
  const r = await rawHttp(relay.port, [httpText('GET', '/healthz', 'abc')], 1);
  assert.deepEqual(r.responses.map((x) => x.status), [200]);
  // This GET, then the /metrics request that reads the count.
  assert.equal(await httpRequestsServed() - before, 2, 'the GET was served twice');
});

test('a_pipelined_get_with_a_body_is_answered_in_order', async () => {
  const r = await rawHttp(relay.port, [GET_HEALTH + httpText('GET', '/healthz', 'abc') +
    GET_HEALTH], 3, { timeoutMs: 5000 });
  assert.equal(r.responses[0].status, 200);
  assertPipelinedBody(r, 1, 200);
  assertPipelinedBody(r, 2, 200);
  await logStaysQuiet();
});

test('a_post_whose_body_arrives_in_pieces_is_read_whole', async () => {
  // Not pipelined: the checks above must not refuse a body lws reads in
  // several turns. 300 KB in three writes; a publish whose head passes
  // (the app's key, a fresh timestamp, a signature of the right shape) but
  // whose signature is wrong is refused (401) only after the body is read.
  // (With a bad key in its head a body over 64 KiB is refused at once:
  // relay_hostile_limits.test.js.)
  const ts = Math.floor(Date.now() / 1000);
  const post = httpText('POST', `/apps/sno/events?auth_key=${relay.app.key}` +
    `&auth_timestamp=${ts}&auth_signature=${'0'.repeat(64)}&body_md5=${'0'.repeat(32)}`,
    JSON.stringify({ name: 'ev', channels: ['health'], data: 'x'.repeat(300000) }));
  const r = await rawHttp(relay.port, [post.slice(0, 100), async () => sleep(20),
    post.slice(100, 70000), async () => sleep(20), post.slice(70000) + GET_HEALTH], 2);
  assert.deepEqual(r.responses.map((x) => x.status), [401, 200]);
});

test('post_then_pipelined_gets_are_answered_in_order', async () => {
  const r = await rawHttp(relay.port, [POST_UNSIGNED + GET_HEALTH + GET_HEALTH], 3);
  assert.deepEqual(r.responses.map((x) => x.status), [401, 200, 200]);
  await logStaysQuiet();
});

test('pipelined_signed_publishes_are_delivered_in_order', async () => {
  const tags = ['p1', 'p2'].map((t) => t + crypto.randomBytes(4).toString('hex'));
  const r = await rawHttp(relay.port,
    [signedPublish('health', { tag: tags[0] }) + signedPublish('health', { tag: tags[1] })], 2,
    { timeoutMs: 5000 });
  const st = r.responses.map((x) => x.status);
  assert.equal(st.length, 2, `answers ${JSON.stringify(st)}`);
  assert.equal(st[0], 200, r.responses[0].body);
  await waitMessage(healthy, 'ev', 'health', 2000, (m) => m.data.tag === tags[0]);
  assertPipelinedBody(r, 1, 200);
  await waitMessage(healthy, 'ev', 'health', 2000, (m) => m.data.tag === tags[1]);
  await logStaysQuiet();
});

test('a_pipelined_request_that_cannot_be_parsed_gets_4xx_and_close', async () => {
  const r = await rawHttp(relay.port, [GET_HEALTH + 'GARBAGE \x01\x02\r\n\r\n'], 2,
    { waitClose: true });
  const st = r.responses.map((x) => x.status);
  assert.equal(st[0], 200);
  // lws answers an unknown method itself (403), then closes.
  assert.ok(st[1] >= 400 && st[1] < 500, `answers ${JSON.stringify(st)}`);
  assert.equal(r.closed, true);
});

test('a_request_waiting_for_its_answer_with_the_next_behind_it_does_not_spin', async () => {
  // A wrong password is checked on the password thread: the request waits,
  // parked, while the pipelined GET arrives in a second write.
  const login = httpText('POST', '/api/v1/login',
    JSON.stringify({ user: 'alice', password: 'wrong' }),
    { Host: `127.0.0.1:${relay.port}`, Origin: relay.origin,
      'Content-Type': 'application/json' });
  const r = await rawHttp(relay.port, [login, async () => sleep(20), GET_HEALTH], 2,
    { timeoutMs: 15000 });
  const st = r.responses.map((x) => x.status);
  assert.equal(st.length, 2, `answers ${JSON.stringify(st)}`);
  assert.ok(st[0] === 401 || st[0] === 429, `login ${st[0]}`);
  assert.equal(st[1], 200);
  await logStaysQuiet();
});

// ---- framing (issue 9.6) ----

test('duplicate_content_length_is_refused_and_closed', async () => {
  const smuggled = GET_HEALTH;
  const req = 'POST /apps/sno/events HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    `Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
  const r = await rawHttp(relay.port, [req], 2, { waitClose: true });
  assert.deepEqual(r.responses.map((x) => x.status), [400],
    'one 400, and the body is never answered as a request');
  assert.equal(r.closed, true);
});

test('content_length_list_is_refused_and_closed', async () => {
  const req = 'POST /apps/sno/events HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Content-Length: 5,7\r\n\r\nabcde';
  const r = await rawHttp(relay.port, [req], 2, { waitClose: true });
  assert.deepEqual(r.responses.map((x) => x.status), [400]);
  assert.equal(r.closed, true);
});

test('chunked_post_is_answered_411_not_left_hanging', async () => {
  const req = 'POST /apps/sno/events?auth_key=x HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n';
  const r = await rawHttp(relay.port, [req], 1, { waitClose: true, timeoutMs: 5000 });
  assert.deepEqual(r.responses.map((x) => x.status), [411]);
  assert.equal(r.closed, true);
});

test('post_without_content_length_is_answered_411_not_left_hanging', async () => {
  const req = 'POST /apps/sno/events?auth_key=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n{}';
  const r = await rawHttp(relay.port, [req], 1, { waitClose: true, timeoutMs: 5000 });
  assert.deepEqual(r.responses.map((x) => x.status), [411]);
  assert.equal(r.closed, true);
});

test('post_with_content_length_zero_is_answered', async () => {
  const req = 'POST /apps/sno/events?auth_key=x HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    'Content-Length: 0\r\n\r\n';
  const r = await rawHttp(relay.port, [req + GET_HEALTH], 2);
  assert.deepEqual(r.responses.map((x) => x.status), [401, 200]);
});

// ---- the log under a flood, and stopping under load (issue 9.15) ----

test('a_flood_of_one_refusal_is_logged_a_few_times_a_second_with_a_count', async () => {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const N = 2000;
  const from = relay.logs().length;
  const t0 = Date.now();
  let sent = 0;
  const one = () => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: relay.port, method: 'POST',
      path: '/apps/sno/events?auth_key=x', agent,
      headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end('{}');
  });
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (sent < N) {
      sent++;
      assert.equal(await one(), 401);
    }
  }));
  const seconds = (Date.now() - t0) / 1000;
  agent.destroy();
  // The count of the last second is written within about a second.
  const text = await waitFor(() => {
    const t = relay.logs().slice(from);
    const sup = [...t.matchAll(/log suppressed=(\d+) msg="http auth=refused/g)];
    const lines = (t.match(/info http auth=refused/g) || []).length;
    const total = lines + sup.reduce((a, m) => a + Number(m[1]), 0);
    return total === N ? t : null;
  }, 5000, 'written + suppressed refusals to add up to the requests sent');
  const lines = (text.match(/info http auth=refused/g) || []).length;
  assert.ok(lines <= 5 * (Math.ceil(seconds) + 2),
    `${lines} refusal lines for ${N} requests in ${seconds.toFixed(1)} s`);
});

test('sigterm_stops_a_relay_under_a_flood_within_2_s', async () => {
  const r = await sno.startSnoRelay([]);
  const socks = [];
  let flood = true;
  try {
    // The pipelined POSTs that once made it spin deaf to signals...
    const p = net.connect({ host: '127.0.0.1', port: r.port });
    let answered = false;
    p.on('error', () => {});
    p.on('data', () => {
      answered = true;
    });
    p.on('connect', () => p.write(POST_UNSIGNED + POST_UNSIGNED));
    socks.push(p);
    await waitFor(() => answered, 5000, 'the first POST to be answered');
    // ...and 20 connections writing pipelined GETs as fast as it reads.
    for (let i = 0; i < 20; i++) {
      const s = net.connect({ host: '127.0.0.1', port: r.port });
      s.on('error', () => {});
      s.on('data', () => {});
      const pump = () => {
        while (flood && !s.destroyed && s.write(GET_HEALTH.repeat(50))) { /* fill */ }
      };
      s.on('drain', pump);
      s.on('connect', pump);
      socks.push(s);
    }
    const ticks = cpuTicks(r.pid);
    await waitFor(() => cpuTicks(r.pid) > ticks + 10, 10000, 'the relay to be busy');
    const t0 = Date.now();
    process.kill(r.pid, 'SIGTERM');
    await waitFor(() => r.cur.exit, 10000, 'the relay to exit');
    const took = Date.now() - t0;
    // The requirement (2 s) plus process teardown; bound() widens it for
    // the ASan build, whose exit (leak check) is slower.
    assert.ok(took < require('./lib/wait').bound(2500), `stopping took ${took} ms`);
  } finally {
    flood = false;
    for (const s of socks) s.destroy();
    if (r.alive()) await r.kill();
  }
});

// ---- slow and silent clients, oversized headers ----

test('slowloris_300_connections_trickling_headers_do_not_stop_service', async () => {
  const conns = await sockets(300);
  try {
    for (const s of conns) s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ');
    // One header byte per connection every 2 s, for about 10 s (bounded:
    // 5 rounds), the service checked in every round.
    for (let round = 0; round < 5; round++) {
      for (const s of conns) if (!s.ended) s.write('a');
      await assertHealthy();
      await sleep(2000);
    }
  } finally {
    for (const s of conns) s.destroy();
  }
});

test('idle_connections_that_never_speak_do_not_stop_service', async () => {
  const conns = await sockets(500);
  try {
    await assertHealthy();
    // Websocket handshakes still go through with them all open.
    const c = await connectPusher(relay);
    c.disconnect();
    await assertHealthy();
  } finally {
    for (const s of conns) s.destroy();
  }
});

async function bomb(text) {
  const s = (await sockets(1))[0];
  const answer = [];
  s.on('data', (d) => answer.push(d));
  s.write(text);
  await waitFor(() => s.ended || /^HTTP\/1\.[01] 4\d\d/.test(Buffer.concat(answer)
    .toString('latin1')), 10000, 'the relay to refuse or close');
  s.destroy();
  return Buffer.concat(answer).toString('latin1');
}

test('header_bomb_10000_headers_is_refused', async () => {
  const headers = Array.from({ length: 10000 }, (_, i) => `X-h${i}: v\r\n`).join('');
  const a = await bomb(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
  assert.ok(!/^HTTP\/1\.[01] 200/.test(a), `answered ${a.slice(0, 40)}`);
});

test('header_bomb_one_1_MB_header_is_refused', async () => {
  const a = await bomb(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-big: ${'a'.repeat(1 << 20)}\r\n\r\n`);
  assert.ok(!/^HTTP\/1\.[01] 200/.test(a), `answered ${a.slice(0, 40)}`);
});

test('header_bomb_1_MB_url_is_refused', async () => {
  const a = await bomb(`GET /healthz?${'a=1&'.repeat(1 << 18)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  assert.ok(!/^HTTP\/1\.[01] 200/.test(a), `answered ${a.slice(0, 40)}`);
});

test('header_bombs_from_100_connections_at_once_do_not_stop_service', async () => {
  const conns = await sockets(100);
  try {
    const big = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-b: '.padEnd(8000, 'b')}\r\n`;
    for (const s of conns) s.write(big.repeat(8));
    await assertHealthy();
    await waitFor(() => conns.every((s) => s.ended), 20000, 'every bomb connection closed');
  } finally {
    for (const s of conns) s.destroy();
  }
});

// ---- heads RFC 9112 says to refuse, which lws 4.1.6 lets through ----

// Each is answered with its status and the connection closed: a request
// behind it on the same connection is never answered.
const REFUSED_HEADS = {
  te_with_space_before_colon_and_content_length_is_refused_400_and_closed: [400,
    'POST /apps/sno/events?auth_key=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n' +
    'Transfer-Encoding : chunked\r\n\r\n{}'],
  te_with_tab_before_colon_is_refused_400_and_closed: [400,
    'POST /apps/sno/events?auth_key=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n' +
    'Transfer-Encoding\t: chunked\r\n\r\n{}'],
  host_with_space_before_colon_is_refused_400_and_closed: [400,
    'GET /healthz HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n'],
  first_header_line_starting_with_whitespace_is_refused_400_and_closed: [400,
    'GET /healthz HTTP/1.1\r\n Host: 127.0.0.1\r\n\r\n'],
  http_1_1_without_host_is_refused_400_and_closed: [400, 'GET /healthz HTTP/1.1\r\n\r\n'],
  two_host_headers_are_refused_400_and_closed: [400,
    'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  nul_in_a_header_value_is_refused_400_and_closed: [400,
    'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\u0000y\r\n\r\n'],
  http_9_9_is_refused_505_and_closed: [505, 'GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n'],
};

for (const [name, [status, head]] of Object.entries(REFUSED_HEADS)) {
  test(name, async () => {
    const r = await rawHttp(relay.port, [head + GET_HEALTH], 2, { waitClose: true });
    assert.deepEqual(r.responses.map((x) => x.status), [status],
      'refused, and the request behind it never answered');
    assert.equal(r.closed, true);
    assert.equal(r.responses[0].headers.connection, 'close');
  });
}

test('http_1_0_without_host_is_answered', async () => {
  const r = await rawHttp(relay.port, ['GET /healthz HTTP/1.0\r\n\r\n'], 1);
  assert.deepEqual(r.responses.map((x) => x.status), [200]);
});

test('a_5_KB_cookie_is_read_and_answered', async () => {
  const r = await rawHttp(relay.port, [httpText('GET', '/api/v1/me', undefined,
    { Cookie: `sno_session=${'f'.repeat(5000)}` })], 1);
  assert.deepEqual(r.responses.map((x) => x.status), [401]);
});

test('a_4_KB_url_is_answered', async () => {
  const r = await rawHttp(relay.port, [httpText('GET', `/healthz?${'a'.repeat(4200)}`)], 1);
  assert.deepEqual(r.responses.map((x) => x.status), [200]);
});

test('500_short_headers_are_answered', async () => {
  const headers = {};
  for (let i = 0; i < 500; i++) headers[`X-${i}`] = 'y';
  const r = await rawHttp(relay.port, [httpText('GET', '/healthz', undefined, headers)], 1);
  assert.deepEqual(r.responses.map((x) => x.status), [200]);
});

test('nul_in_an_x_sno_header_is_as_if_not_given', async () => {
  const r = await rawHttp(relay.port, [httpText('POST', '/agent/v1/samples', '{}',
    { 'X-Sno-Host': 'web-1\u0000x', 'X-Sno-Timestamp': '1', 'X-Sno-Signature': 'aa' })], 1);
  assert.deepEqual(r.responses.map((x) => x.status), [401]);
  assert.match(r.responses[0].body, /missing X-Sno-Host/);
});
