'use strict';
// Issue 11, acceptance 2: the real sno-agent streams over https to a real
// sno-relay (tls_listen, a certificate made by the openssl CLI) directly,
// through an HTTP CONNECT proxy named by `proxy =`, through one named by
// https_proxy in its environment, and not through it when no_proxy matches
// or `proxy = none`. A proxy that refuses tunnels (403) or dies mid-stream
// shows in the agent's log, and once it is back the relay's history holds
// every sample taken meanwhile, once and in order. The proxy is a small
// CONNECT proxy written here on 127.0.0.1 (node's http server 'connect'
// event, piping bytes both ways): a real proxy, as a fleet's egress proxy
// would be. Subscribers are pusher-js on the relay's plain port. Every
// process is stopped by PID; the proxy and its sockets are closed here.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { sleep, waitFor, freePort } = require('./lib/wait');
const { tmpDir } = require('./lib/relay');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

let dir, hosts, relay, caFile;
const agents = [];
const clients = [];
const proxies = [];

function diag() {
  return `\n--- relay stderr ---\n${relay && relay.logs()}` +
    `\n--- agent stderr ---\n${agents.map((a) => a.stderr).join('\n===\n')}` +
    `\n--- proxies ---\n${proxies.map((p) => JSON.stringify(p.st)).join('\n')}`;
}

/*
 * A CONNECT proxy on 127.0.0.1. st.tunnels lists "host:port" of each
 * CONNECT it let through, st.refused those it answered 403. p.refuse(on)
 * switches 403 mode (cutting the open tunnels, as a proxy restarted with a
 * new policy would); p.die() closes the listener and every socket;
 * p.start() listens again on the same port.
 */
async function startProxy() {
  const p = { st: { tunnels: [], refused: [], plain: 0 }, socks: new Set(), refusing: false };
  p.port = await freePort();
  p.url = `http://127.0.0.1:${p.port}`;
  const track = (s) => {
    p.socks.add(s);
    s.on('close', () => p.socks.delete(s));
    s.on('error', () => s.destroy());
  };
  p.start = () => new Promise((resolve, reject) => {
    p.srv = http.createServer((req, res) => {
      p.st.plain++;
      res.writeHead(405, { connection: 'close' });
      res.end('CONNECT only\n');
    });
    p.srv.on('connection', track);
    p.srv.on('connect', (req, sock, head) => {
      if (p.refusing) {
        p.st.refused.push(req.url);
        sock.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const [host, port] = [req.url.slice(0, req.url.lastIndexOf(':')),
        Number(req.url.slice(req.url.lastIndexOf(':') + 1))];
      const up = net.connect({ host: host.replace(/^\[|\]$/g, ''), port }, () => {
        p.st.tunnels.push(req.url);
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(sock);
        sock.pipe(up);
      });
      track(up);
      up.on('close', () => sock.destroy());
      sock.on('close', () => up.destroy());
    });
    p.srv.once('error', reject);
    p.srv.listen(p.port, '127.0.0.1', resolve);
  });
  p.cut = () => {
    for (const s of p.socks) s.destroy();
  };
  p.refuse = (on) => {
    p.refusing = on;
    if (on) p.cut();
  };
  p.die = () => new Promise((resolve) => {
    p.srv.close(() => resolve());
    p.cut();
  });
  await p.start();
  proxies.push(p);
  return p;
}

async function login(r) {
  const l = await sno.login(r, 'alice', 'alice-pw');
  assert.strictEqual(l.status, 200, `alice login: ${l.status} ${l.body}`);
  return l.cookie;
}

async function watch(host) {
  const c = await sno.connectMetricsPusher(relay);
  clients.push(c);
  const ch = `private-host-${host.name}`;
  await subscribe(c, ch);
  assert.ok(messages(c, 'pusher_internal:subscription_succeeded', ch)[0],
    `subscription to ${ch} failed: ${JSON.stringify(c.received)}`);
  return { c, ch };
}

async function startAgent(host, opts = {}) {
  const a = await sno.startAgent(relay.port, host, {
    dir, url: `https://127.0.0.1:${relay.tlsPort}`, ca_file: caFile, ...opts,
  });
  agents.push(a);
  return a;
}

function assertConsecutive(seqs, what) {
  assert.ok(seqs.length > 0, `${what}: no samples`);
  for (let i = 1; i < seqs.length; i++) {
    assert.strictEqual(seqs[i], seqs[i - 1] + 1,
      `${what}: seq ${seqs[i - 1]} is followed by ${seqs[i]} (all: ${seqs.join(',')})`);
  }
}

// n samples at the subscriber, seq rising by 1.
async function assertStreams(w, n, what) {
  await waitFor(() => sno.samplesOf(w.c, w.ch).length >= n, n * 1000 + 8000,
    `${n} samples ${what}`).catch((e) =>
    assert.fail(`${e.message}: got ${sno.samplesOf(w.c, w.ch).length}${diag()}`));
  assertConsecutive(sno.samplesOf(w.c, w.ch).map((s) => s.seq), what);
}

const tunnelsTo = (p) => p.st.tunnels.filter((t) => t === `127.0.0.1:${relay.tlsPort}`).length;

before(async () => {
  dir = tmpDir();
  hosts = {};
  for (const n of ['D', 'C', 'P', 'E', 'N', 'O', 'R', 'K']) hosts[n] = sno.newHost(n, 'acme');
  const key = path.join(dir, 'relay.key');
  caFile = path.join(dir, 'relay.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', caFile,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'ignore', timeout: 20000 });
  const tlsPort = await freePort();
  relay = await sno.startSnoRelay(Object.values(hosts), {
    dir: fs.mkdtempSync(path.join(dir, 'relay-')),
    relay: { tls_listen: `127.0.0.1:${tlsPort}`, tls_cert: caFile, tls_key: key },
  });
  relay.tlsPort = tlsPort;
});

after(async () => {
  disconnectAll(clients);
  for (const a of agents) await sno.stopDaemon(a);
  if (relay) await relay.stop();
  for (const p of proxies) {
    p.cut();
    await new Promise((resolve) => p.srv.close(() => resolve()));
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('direct_without_proxy_settings', async () => {
  const p = await startProxy(); // running, but named nowhere
  const w = await watch(hosts.D);
  const a = await startAgent(hosts.D);
  await assertStreams(w, 3, 'direct');
  assert.match(a.stderr, /agent ready host=D .*route="direct"/, diag());
  assert.strictEqual(p.st.tunnels.length + p.st.plain, 0, diag());
  await a.stop();
});

test('through_the_proxy_named_by_proxy_key', async () => {
  const p = await startProxy();
  const w = await watch(hosts.C);
  // An environment proxy that does not exist: `proxy =` wins over it.
  const a = await startAgent(hosts.C, {
    conf: `proxy = ${p.url}\n`,
    env: { https_proxy: `http://127.0.0.1:${await freePort()}`, no_proxy: '127.0.0.1' },
  });
  await assertStreams(w, 3, 'through proxy =');
  assert.ok(tunnelsTo(p) >= 1, `no tunnel to the relay${diag()}`);
  // One kept connection through one tunnel carries every request.
  assert.strictEqual(p.st.tunnels.length, 1, diag());
  assert.match(a.stderr, new RegExp(`route="proxy ${p.url} \\(from proxy =\\)"`), diag());
  await a.stop();
});

test('plain_http_relay_goes_through_the_proxy_as_a_tunnel_too', async () => {
  const p = await startProxy();
  const w = await watch(hosts.P);
  const a = await startAgent(hosts.P, { url: `http://127.0.0.1:${relay.port}`,
    conf: `proxy = ${p.url}\n` });
  await assertStreams(w, 3, 'over http through proxy =');
  // CONNECT, never a forwarded plain request (which would expose the
  // signed request to the proxy's rewriting).
  assert.ok(p.st.tunnels.includes(`127.0.0.1:${relay.port}`), diag());
  assert.strictEqual(p.st.plain, 0, diag());
  await a.stop();
});

test('through_the_proxy_named_by_https_proxy', async () => {
  const p = await startProxy();
  const w = await watch(hosts.E);
  const a = await startAgent(hosts.E, {
    env: { https_proxy: p.url, no_proxy: 'localhost,.example.com' },
  });
  await assertStreams(w, 3, 'through https_proxy');
  assert.ok(tunnelsTo(p) >= 1, `no tunnel to the relay${diag()}`);
  assert.match(a.stderr, new RegExp(`route="proxy ${p.url} \\(from https_proxy\\)"`), diag());
  await a.stop();
});

test('not_through_it_when_no_proxy_matches_or_proxy_is_none', async () => {
  const p = await startProxy();
  const wN = await watch(hosts.N);
  const wO = await watch(hosts.O);
  const aN = await startAgent(hosts.N, {
    env: { HTTPS_PROXY: p.url, NO_PROXY: 'relay.example.com, 127.0.0.0/8' },
  });
  const aO = await startAgent(hosts.O, { conf: 'proxy = none\n', env: { https_proxy: p.url } });
  await assertStreams(wN, 3, 'with no_proxy matching');
  await assertStreams(wO, 3, 'with proxy = none');
  assert.strictEqual(p.st.tunnels.length + p.st.refused.length + p.st.plain, 0,
    `the proxy was used${diag()}`);
  assert.match(aN.stderr, /route="direct \(NO_PROXY matches 127\.0\.0\.1\)"/, diag());
  assert.match(aO.stderr, /route="direct \(proxy = none\)"/, diag());
  await aN.stop();
  await aO.stop();
});

/*
 * Streams host through proxy p, breaks p with breakIt() for about 3 s
 * while the agent keeps sampling, mends it with mend(), and checks that
 * the relay's history holds every sample once, in order, including those
 * taken during the outage, and that the live channel saw no repeat.
 */
async function outage(host, p, breakIt, mend, logRe) {
  const cookie = await login(relay);
  const w = await watch(host);
  const a = await startAgent(host, { conf: `proxy = ${p.url}\n` });
  await assertStreams(w, 2, 'before the outage');
  const brokeAt = Date.now();
  await breakIt();
  await waitFor(() => logRe.test(a.stderr), 10000, `the agent to log ${logRe}`)
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  // Long enough for at least two samples to be taken while broken.
  await sleep(Math.max(0, 3000 - (Date.now() - brokeAt)));
  const mendedAt = Date.now();
  await mend();
  // Back-off after a few failures is a few seconds: wait for a sample taken
  // after the proxy came back, in the history and at the subscriber.
  let hist = [];
  const history = async () => {
    const r = await sno.api(relay, 'GET', `/api/v1/hosts/${host.name}/history?since=0`, { cookie });
    assert.strictEqual(r.status, 200, `history: ${r.status} ${r.body}`);
    return r.json.samples;
  };
  await waitFor(async () => {
    hist = await history();
    return hist.some((s) => s.ts_ms > mendedAt + 500) &&
      sno.samplesOf(w.c, w.ch).some((s) => s.ts_ms > mendedAt + 500);
  }, 20000, 'samples taken after the proxy came back').catch((e) =>
    assert.fail(`${e.message}; history ${hist.length} samples${diag()}`));
  hist = await history();
  assertConsecutive(hist.map((s) => s.seq), 'history across the outage');
  const during = hist.filter((s) => s.ts_ms > brokeAt + 300 && s.ts_ms < mendedAt - 300);
  assert.ok(during.length >= 2, `only ${during.length} samples taken during the outage ` +
    `arrived${diag()}`);
  const live = sno.samplesOf(w.c, w.ch).map((s) => s.seq);
  for (let i = 1; i < live.length; i++) {
    assert.ok(live[i] > live[i - 1], `live: seq ${live[i]} after ${live[i - 1]} ` +
      `(repeated or out of order): ${live.join(',')}`);
  }
  assert.doesNotMatch(a.stderr, /agent dropped|dropped=[1-9]/, diag());
  assert.strictEqual(a.exit, null);
  await a.stop();
  assert.deepStrictEqual(a.exit, { code: 0, signal: null }, `agent exit; stderr:\n${a.stderr}`);
  return a;
}

test('proxy_refusing_with_403_is_logged_and_nothing_is_lost', async () => {
  const p = await startProxy();
  const a = await outage(hosts.R, p, () => p.refuse(true), () => p.refuse(false),
    new RegExp(`agent relay unreachable request=samples .*error="proxy ${p.url} ` +
      'refused the tunnel to 127\\.0\\.0\\.1:\\d+: CONNECT answered 403"'));
  assert.ok(p.st.refused.length >= 1, diag());
  assert.ok(tunnelsTo(p) >= 2, `no new tunnel after the refusals${diag()}`);
  assert.match(a.stderr, /agent relay unreachable/);
});

test('proxy_dying_mid_stream_is_logged_and_nothing_is_lost', async () => {
  const p = await startProxy();
  await outage(hosts.K, p, () => p.die(), () => p.start(),
    new RegExp('agent relay unreachable request=samples .*error="127\\.0\\.0\\.1:\\d+ ' +
      `through proxy ${p.url}: .*connect`, 'i'));
  assert.ok(tunnelsTo(p) >= 2, `no new tunnel after the restart${diag()}`);
});
