'use strict';
// The agent's own HTTPS client (agent/uplink.c, mbedTLS) against a real
// sno-relay on tls_listen, with certificates made at test time by the
// openssl CLI: samples flow over https to an IP literal and to a DNS name;
// a certificate that does not chain to ca_file, or that names another IP
// or DNS name, is refused with a clear log line while the agent keeps
// running; a relay killed for 3 s loses no sample taken meanwhile, and
// relay_url values that are not https (or plain http to loopback) stop the
// agent at start. Subscribers are pusher-js on the relay's plain port; only
// the agent's uplink runs over TLS. Every process is stopped by PID.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { bound, sleep, waitFor, freePort } = require('./lib/wait');
const { tmpDir } = require('./lib/relay');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

let dir, hosts, relay, cookie;
const relays = [];
const agents = [];
const clients = [];

function diag() {
  return `\n--- relay stderr ---\n${relays.map((r) => r.logs()).join('\n===\n')}` +
    `\n--- agent stderr ---\n${agents.map((a) => a.stderr).join('\n===\n')}`;
}

// A self-signed certificate and key (RSA 2048, one day) with subject CN
// and the given subjectAltName (none if san is null); returns {cert, key}
// paths in dir.
function makeCert(name, cn, san) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`,
    ...(san ? ['-addext', `subjectAltName=${san}`] : [])],
  { stdio: 'ignore', timeout: 20000 });
  return { cert, key };
}

// A relay serving plain HTTP on .port and TLS with c on .tlsPort.
async function startTlsRelay(c) {
  const tlsPort = await freePort();
  const r = await sno.startSnoRelay(Object.values(hosts), {
    dir: fs.mkdtempSync(path.join(dir, 'relay-')),
    relay: { tls_listen: `127.0.0.1:${tlsPort}`, tls_cert: c.cert, tls_key: c.key },
  });
  r.tlsPort = tlsPort;
  relays.push(r);
  return r;
}

async function startAgent(r, host, url, caFile) {
  const a = await sno.startAgent(r.port, host, { dir, url, ca_file: caFile });
  agents.push(a);
  return a;
}

async function watch(r, host) {
  const c = await sno.connectMetricsPusher(r);
  clients.push(c);
  const ch = `private-host-${host.name}`;
  await subscribe(c, ch);
  const ok = messages(c, 'pusher_internal:subscription_succeeded', ch)[0];
  assert.ok(ok, `subscription to ${ch} failed: ${JSON.stringify(c.received)}`);
  return { c, ch, okAt: ok.at };
}

async function hostRow(r, id, c) {
  const res = await sno.api(r, 'GET', '/api/v1/hosts', { cookie: c });
  assert.strictEqual(res.status, 200, `GET /api/v1/hosts: ${res.status} ${res.body}`);
  return res.json.hosts.find((h) => h.id === id);
}

async function login(r) {
  const l = await sno.login(r, 'alice', 'alice-pw');
  assert.strictEqual(l.status, 200, `alice login: ${l.status} ${l.body}`);
  return l.cookie;
}

// SIGTERM; the agent must exit 0 (under ASan: no leak report either).
async function stopClean(a) {
  const e = await sno.stopDaemon(a);
  assert.deepStrictEqual(e, { code: 0, signal: null },
    `agent exit ${JSON.stringify(e)}; stderr:\n${a.stderr}`);
}

function assertConsecutive(seqs, what) {
  assert.ok(seqs.length > 0, `${what}: no samples`);
  for (let i = 1; i < seqs.length; i++) {
    assert.strictEqual(seqs[i], seqs[i - 1] + 1,
      `${what}: seq ${seqs[i - 1]} is followed by ${seqs[i]} (all: ${seqs.join(',')})`);
  }
}

// The subscriber's first sample within 1.5 s, then n with seq rising by 1.
async function assertStreams(w, host, n) {
  const first = await waitFor(() => sno.samplesOf(w.c, w.ch)[0], 3000,
    `the first sample of ${host.name}`).catch((e) => assert.fail(`${e.message}${diag()}`));
  const latency = first._at - w.okAt;
  // 1.5 s is the promise; bound() widens it for the ASan build on busy cores.
  assert.ok(latency <= bound(1500), `first sample ${latency} ms after subscription_succeeded${diag()}`);
  await waitFor(() => sno.samplesOf(w.c, w.ch).length >= n, n * 1000 + 2000, `${n} samples`)
    .catch((e) => assert.fail(`${e.message}: got ${sno.samplesOf(w.c, w.ch).length}${diag()}`));
  const s = sno.samplesOf(w.c, w.ch);
  assertConsecutive(s.map((x) => x.seq), `samples of ${host.name} over https`);
  for (const x of s) assert.strictEqual(x.host, host.name);
  return s;
}

/*
 * An agent whose relay presents a certificate it must refuse: it logs
 * "certificate of NAME not accepted: ..." (matching want, never notWant),
 * keeps retrying, stays alive, and the watched channel gets no sample.
 */
async function assertRefused(a, w, r, host, name, want, notWant) {
  const re = new RegExp(`certificate of ${name.replace(/\./g, '\\.')} not accepted: (.*)`, 'g');
  const lines = () => [...a.stderr.matchAll(re)].map((m) => m[1]);
  await waitFor(() => lines().length >= 2, 5000, `two refusals of ${name}'s certificate`)
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  // Fixed: a refused agent retries with back-off and, were it accepted,
  // would post within interval_ms (1 s); 4 s after the watch began holds
  // two refusals (seen above) and so covers a post after either.
  await sleep(Math.max(0, 4000 - (Date.now() - w.okAt)));
  for (const l of lines()) {
    assert.match(l, want, `agent's reason for refusing ${name}`);
    assert.doesNotMatch(l, notWant, `agent's reason for refusing ${name}`);
  }
  assert.match(a.stderr, /agent relay unreachable request=checkin/);
  assert.strictEqual(a.exit, null, `the agent exited: ${JSON.stringify(a.exit)}${diag()}`);
  process.kill(a.pid, 0); // still there
  assert.deepStrictEqual(sno.samplesOf(w.c, w.ch), [], `samples reached ${w.ch}${diag()}`);
  const row = await hostRow(r, host.name, await login(r));
  assert.strictEqual(row.online, false, `${host.name} checked in: ${JSON.stringify(row)}`);
  assert.strictEqual(row.last_seq, 0, JSON.stringify(row));
}

before(async () => {
  dir = tmpDir();
  hosts = {};
  for (const n of ['H', 'L', 'X', 'W', 'D', 'S']) hosts[n] = sno.newHost(n, 'acme');
  relay = await startTlsRelay(makeCert('relay-ip', '127.0.0.1', 'IP:127.0.0.1'));
});

after(async () => {
  disconnectAll(clients);
  for (const a of agents) await sno.stopDaemon(a);
  for (const r of relays) await r.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('https_to_ip_literal_with_ca_file_streams_consecutive_samples', async () => {
  const H = hosts.H;
  const a = await startAgent(relay, H, `https://127.0.0.1:${relay.tlsPort}`,
    path.join(dir, 'relay-ip.pem'));
  cookie = await login(relay);
  await waitFor(async () => (await hostRow(relay, 'H', cookie)).online, 5000,
    'H to check in over https').catch((e) => assert.fail(`${e.message}${diag()}`));
  const w = await watch(relay, H);
  await assertStreams(w, H, 4);
  assert.match(a.stderr, /agent streaming host=H/);
  assert.doesNotMatch(a.stderr, /unreachable|not accepted|failed/, diag());
  w.c.unsubscribe(w.ch);
});

test('https_to_dns_name_resolves_and_checks_the_name', async () => {
  const L = hosts.L;
  const r = await startTlsRelay(makeCert('relay-dns', 'localhost', 'DNS:localhost'));
  // The relay listens on 127.0.0.1 only: should localhost resolve to ::1
  // first, the agent has to fall through to the next address.
  const a = await startAgent(r, L, `https://localhost:${r.tlsPort}`,
    path.join(dir, 'relay-dns.pem'));
  const c = await login(r);
  await waitFor(async () => (await hostRow(r, 'L', c)).online, 5000,
    'L to check in over https://localhost').catch((e) => assert.fail(`${e.message}${diag()}`));
  const w = await watch(r, L);
  await assertStreams(w, L, 3);
  assert.doesNotMatch(a.stderr, /unreachable|not accepted|failed/, diag());
  await stopClean(a);
});

test('certificate_not_signed_by_ca_file_is_refused_and_agent_keeps_running', async () => {
  const X = hosts.X;
  // Same names as the relay's certificate, another key: only trust fails.
  const other = makeCert('other-ip', '127.0.0.1', 'IP:127.0.0.1');
  const w = await watch(relay, X);
  const a = await startAgent(relay, X, `https://127.0.0.1:${relay.tlsPort}`, other.cert);
  await assertRefused(a, w, relay, X, '127.0.0.1', /not correctly signed|not trusted/i,
    /CN|Common Name/);
  await stopClean(a);
});

// No ca_file: the system CAs (the hashed /etc/ssl/certs) are what the
// agent trusts, and a self-signed relay certificate is not among them.
test('without_ca_file_the_system_cas_refuse_a_self_signed_relay', async () => {
  const S = hosts.S;
  const w = await watch(relay, S);
  const a = await startAgent(relay, S, `https://127.0.0.1:${relay.tlsPort}`, undefined);
  await assertRefused(a, w, relay, S, '127.0.0.1', /self.signed|not trusted|not correctly signed/i,
    /CN|Common Name/);
  await stopClean(a);
});

// Trusted (the certificate is its own ca_file) but naming someone else.
test('certificate_for_another_ip_address_is_refused', async () => {
  const W = hosts.W;
  const r = await startTlsRelay(makeCert('wrong-ip', '127.0.0.2', 'IP:127.0.0.2'));
  const w = await watch(r, W);
  const a = await startAgent(r, W, `https://127.0.0.1:${r.tlsPort}`,
    path.join(dir, 'wrong-ip.pem'));
  await assertRefused(a, w, r, W, '127.0.0.1', /CN|Common Name/, /not correctly signed/);
  await stopClean(a);
});

test('certificate_for_another_dns_name_is_refused', async () => {
  const D = hosts.D;
  const r = await startTlsRelay(makeCert('wrong-dns', 'relay.invalid', 'DNS:relay.invalid'));
  const w = await watch(r, D);
  const a = await startAgent(r, D, `https://localhost:${r.tlsPort}`,
    path.join(dir, 'wrong-dns.pem'));
  await assertRefused(a, w, r, D, 'localhost', /CN|Common Name/, /not correctly signed/);
  await stopClean(a);
});

test('ip_literal_is_matched_against_the_cn_of_a_certificate_without_san', async () => {
  const good = await startTlsRelay(makeCert('cn-good', '127.0.0.1', null));
  const bad = await startTlsRelay(makeCert('cn-bad', '127.0.0.2', null));
  const aGood = await startAgent(good, hosts.L, `https://127.0.0.1:${good.tlsPort}`,
    path.join(dir, 'cn-good.pem'));
  const aBad = await startAgent(bad, hosts.W, `https://127.0.0.1:${bad.tlsPort}`,
    path.join(dir, 'cn-bad.pem'));
  const c = await login(good);
  await waitFor(async () => (await hostRow(good, 'L', c)).online, 5000,
    'L to check in to a relay whose certificate has CN=127.0.0.1 and no SAN')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  await waitFor(() => /certificate of 127\.0\.0\.1 not accepted: .*(CN|Common Name)/
    .test(aBad.stderr), 5000, 'the CN=127.0.0.2 certificate to be refused')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  assert.doesNotMatch(aGood.stderr, /unreachable|not accepted|failed/, diag());
  await stopClean(aGood);
  await stopClean(aBad);
});

test('tls_relay_killed_3_s_samples_taken_meanwhile_arrive_in_order_once', async () => {
  const H = hosts.H;
  const a = agents[0];
  assert.ok(a && !a.exit, 'needs the agent of the first test');
  const c1 = (await watch(relay, H)).c;
  await waitFor(() => sno.samplesOf(c1, 'private-host-H').length >= 2, 4000,
    '2 samples before the outage').catch((e) => assert.fail(`${e.message}${diag()}`));
  const killedAt = Date.now();
  await relay.kill('SIGKILL');
  c1.disconnect(); // no automatic re-subscribe to the restarted relay
  const beforeOutage = sno.samplesOf(c1, 'private-host-H').map((s) => s.seq);
  await sleep(3000); // the outage under test, not a wait for a state
  const restartAt = Date.now();
  await relay.start();
  cookie = await login(relay); // sessions lived in the killed relay's memory
  const w2 = await watch(relay, H);
  // Back-off after three failures is at most 4 s; wait for a sample taken
  // after the restart, in the history and at the new subscriber.
  let hist = [];
  const history = async () => {
    const r = await sno.api(relay, 'GET', '/api/v1/hosts/H/history?since=0', { cookie });
    assert.strictEqual(r.status, 200, `history: ${r.status} ${r.body}`);
    return r.json.samples;
  };
  await waitFor(async () => {
    hist = await history();
    return hist.some((s) => s.ts_ms > restartAt + 500) &&
      sno.samplesOf(w2.c, w2.ch).some((s) => s.ts_ms > restartAt + 500);
  }, 12000, 'samples taken after the restart').catch((e) =>
    assert.fail(`${e.message}; history ${hist.length} samples${diag()}`));
  hist = await history();
  const live = sno.samplesOf(w2.c, w2.ch).map((s) => s.seq);
  const hs = hist.map((s) => s.seq);
  assertConsecutive(hs, 'history after the restart');
  for (let i = 1; i < live.length; i++) {
    assert.ok(live[i] > live[i - 1], `live after restart: seq ${live[i]} after ` +
      `${live[i - 1]} (duplicate or out of order): ${live.join(',')}`);
  }
  for (const s of live) assert.ok(hs.includes(s), `live seq ${s} is not in the history`);
  assertConsecutive(beforeOutage, 'live before the outage');
  const union = [...new Set([...beforeOutage, ...hs])].sort((x, y) => x - y);
  assertConsecutive(union, `samples across the outage (before ${beforeOutage.join(',')}; ` +
    `history ${hs.join(',')})`);
  const during = hist.filter((s) => s.ts_ms > killedAt + 300 && s.ts_ms < restartAt - 300);
  assert.ok(during.length >= 2, `only ${during.length} samples taken during the 3 s ` +
    `outage arrived (history ts_ms ${hist.map((s) => s.ts_ms - killedAt).join(',')})${diag()}`);
  for (let i = 1; i < hist.length; i++) {
    assert.ok(hist[i].ts_ms > hist[i - 1].ts_ms, 'history ts_ms not rising');
  }
  assert.match(a.stderr, /agent relay unreachable/, 'the agent should log the outage');
  assert.doesNotMatch(a.stderr, /not accepted|agent dropped|dropped=[1-9]/, diag());
  assert.strictEqual(a.exit, null);
  await stopClean(a);
});

test('relay_url_that_is_not_https_or_loopback_http_is_refused_at_start', async () => {
  const keyFile = path.join(dir, 'cc.key');
  fs.writeFileSync(keyFile, `${hosts.H.key}\n`, { mode: 0o600 });
  let n = 0;
  const run = (url, args) => {
    const conf = path.join(dir, `cc-${n++}.conf`);
    fs.writeFileSync(conf, `[agent]\nrelay_url = ${url}\nhost_id = H\nkey_file = ${keyFile}\n`);
    return spawnSync(sno.AGENT_BIN, [...args, '-c', conf], { encoding: 'utf8', timeout: 10000 });
  };
  const bad = ['https://user@host:443', 'https://host:99999', 'https://host/?q=1',
    'https://host#top', 'http://10.0.0.1:80', 'ftp://x'];
  for (const url of bad) {
    const r = run(url, ['--check-config']);
    assert.notStrictEqual(r.status, 0, `--check-config took relay_url ${url}: ${r.stdout}`);
    assert.match(r.stderr, /relay_url/, `the message for ${url}`);
    assert.match(r.stderr, /cc-\d+\.conf:\d+:/, `file:line for ${url}`);
    assert.doesNotMatch(r.stdout, /configuration OK/);
  }
  for (const url of ['https://[::1]:6443/prefix', 'http://127.0.0.1:8080']) {
    const r = run(url, ['--check-config']);
    assert.strictEqual(r.status, 0, `--check-config refused ${url}: ${r.stderr}`);
    assert.match(r.stdout, /configuration OK/);
  }
  // Started for real (not just checked), a bad URL stops it too.
  const r = run('https://user@host:443', []);
  assert.notStrictEqual(r.status, 0, `the agent ran with a bad relay_url: ${r.stderr}`);
  assert.strictEqual(r.signal, null, `killed by ${r.signal} (timed out?)`);
  assert.match(r.stderr, /relay_url/);
});

test('check_config_loads_ca_file_and_names_the_problem', async () => {
  const keyFile = path.join(dir, 'ca.key');
  fs.writeFileSync(keyFile, `${hosts.H.key}\n`, { mode: 0o600 });
  const notPem = path.join(dir, 'not-a-cert.pem');
  fs.writeFileSync(notPem, 'hello\n');
  const cases = [
    [path.join(dir, 'missing.pem'), /No such file or directory/],
    [notPem, /format is invalid|no certificate/i],
  ];
  for (const [ca, why] of cases) {
    const conf = path.join(dir, `ca-${path.basename(ca)}.conf`);
    fs.writeFileSync(conf, '[agent]\nrelay_url = https://127.0.0.1:6443\nhost_id = H\n' +
      `key_file = ${keyFile}\nca_file = ${ca}\n`);
    for (const args of [['--check-config'], []]) {
      const r = spawnSync(sno.AGENT_BIN, [...args, '-c', conf], { encoding: 'utf8', timeout: 10000 });
      assert.strictEqual(r.signal, null, `${args} with ca_file ${ca}: killed by ${r.signal}`);
      assert.strictEqual(r.status, 1, `${args} with ca_file ${ca}: status ${r.status} ${r.stderr}`);
      assert.match(r.stderr, /cannot load CA certificates from/, r.stderr);
      assert.match(r.stderr, why, r.stderr);
      assert.doesNotMatch(r.stdout, /configuration OK/);
    }
  }
});
