'use strict';
// Issue 11, acceptance 4 and the transport's promises: the real sno-agent
// reaches a relay that offers only TLS 1.3 (and one that offers only 1.2):
// a node TLS front on 127.0.0.1 limited to that version, piping the
// decrypted bytes to a real sno-relay's plain port. A certificate from
// another CA, or naming another host, is refused with the reason in the
// log. A peer that offers HTTP/2 in ALPN gets every request over HTTP/2 on
// one connection. A peer that reads a request whole and then closes the
// kept connection unanswered gets it again on a new connection, signed
// with a newer timestamp (the relay refuses a timestamp it has seen).
// Certificates are made at test time by the openssl CLI; every process is
// stopped by PID, every server closed here.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');
const { execFileSync } = require('node:child_process');
const { waitFor, freePort } = require('./lib/wait');
const { tmpDir } = require('./lib/relay');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

let dir, hosts, relay, pki;
const agents = [];
const clients = [];
const servers = [];

function diag() {
  return `\n--- relay stderr ---\n${relay && relay.logs()}` +
    `\n--- agent stderr ---\n${agents.map((a) => a.stderr).join('\n===\n')}`;
}

function openssl(args) {
  execFileSync('openssl', args, { stdio: 'ignore', timeout: 20000, cwd: dir });
}

// A CA (self-signed, CA:TRUE) named cn: {cert, key}.
function makeCa(name) {
  const c = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', c.key, '-out', c.cert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=keyCertSign']);
  return c;
}

// A server certificate with subjectAltName san, signed by ca.
function makeLeaf(name, san, ca) {
  const c = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', c.key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial',
    String(Date.now()), '-days', '1', '-out', c.cert, '-extfile', ext]);
  return c;
}

function listen(srv) {
  return new Promise((resolve, reject) => {
    freePort().then((port) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve(port));
    }, reject);
  });
}

/*
 * A TLS front for the relay offering only TLS version v ('TLSv1.3'):
 * .protocols lists what each handshake negotiated.
 */
async function startFront(leaf, v) {
  const f = { protocols: [], socks: new Set() };
  f.srv = tls.createServer({
    key: fs.readFileSync(leaf.key), cert: fs.readFileSync(leaf.cert),
    minVersion: v, maxVersion: v,
  }, (s) => {
    f.protocols.push(s.getProtocol());
    const up = net.connect({ host: '127.0.0.1', port: relay.port });
    for (const x of [s, up]) {
      f.socks.add(x);
      x.on('error', () => x.destroy());
      x.on('close', () => f.socks.delete(x));
    }
    s.pipe(up);
    up.pipe(s);
    up.on('close', () => s.destroy());
    s.on('close', () => up.destroy());
  });
  f.srv.on('tlsClientError', () => {});
  f.port = await listen(f.srv);
  f.close = () => new Promise((resolve) => {
    for (const x of f.socks) x.destroy();
    f.srv.close(() => resolve());
  });
  servers.push(f);
  return f;
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

async function startAgent(host, port, caFile, opts = {}) {
  const a = await sno.startAgent(relay.port, host, {
    dir, url: `https://${opts.name || '127.0.0.1'}:${port}`, ca_file: caFile,
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

before(async () => {
  dir = tmpDir();
  hosts = {};
  for (const n of ['T3', 'T2', 'XC', 'XN', 'H2', 'RS']) hosts[n] = sno.newHost(n, 'acme');
  relay = await sno.startSnoRelay(Object.values(hosts), {
    dir: fs.mkdtempSync(path.join(dir, 'relay-')),
  });
  const caA = makeCa('ca-a');
  const caB = makeCa('ca-b');
  pki = {
    caA, caB,
    ip: makeLeaf('leaf-ip', 'IP:127.0.0.1', caA),
    ipFromB: makeLeaf('leaf-ip-b', 'IP:127.0.0.1', caB),
    otherName: makeLeaf('leaf-other', 'DNS:relay.invalid,IP:127.0.0.2', caA),
  };
});

after(async () => {
  disconnectAll(clients);
  for (const a of agents) await sno.stopDaemon(a);
  for (const s of servers) await s.close();
  if (relay) await relay.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

for (const [v, name] of [['TLSv1.3', 'T3'], ['TLSv1.2', 'T2']]) {
  test(`relay_offering_only_${v.replace('.', '_')}_is_reached`, async () => {
    const f = await startFront(pki.ip, v);
    const w = await watch(hosts[name]);
    const a = await startAgent(hosts[name], f.port, pki.caA.cert);
    await waitFor(() => sno.samplesOf(w.c, w.ch).length >= 3, 12000, `3 samples over ${v}`)
      .catch((e) => assert.fail(`${e.message}${diag()}`));
    assertConsecutive(sno.samplesOf(w.c, w.ch).map((s) => s.seq), `samples over ${v}`);
    assert.ok(f.protocols.length >= 1 && f.protocols.every((p) => p === v),
      `negotiated ${f.protocols.join(',')}`);
    assert.doesNotMatch(a.stderr, /unreachable|not accepted/, diag());
    await a.stop();
    assert.deepStrictEqual(a.exit, { code: 0, signal: null }, a.stderr);
  });
}

/*
 * The agent logs "certificate of 127.0.0.1 not accepted: REASON" at least
 * twice (it keeps retrying), REASON matching want; no sample arrives.
 */
async function assertRefused(leaf, caFile, host, want) {
  const f = await startFront(leaf, 'TLSv1.3');
  const w = await watch(host);
  const a = await startAgent(host, f.port, caFile);
  const re = /certificate of 127\.0\.0\.1 not accepted: (.*)/g;
  const reasons = () => [...a.stderr.matchAll(re)].map((m) => m[1]);
  await waitFor(() => reasons().length >= 2, 10000, 'two refusals')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  for (const r of reasons()) assert.match(r, want, diag());
  assert.match(a.stderr, /agent relay unreachable request=checkin/);
  assert.strictEqual(a.exit, null, diag());
  assert.deepStrictEqual(sno.samplesOf(w.c, w.ch), [], diag());
  await a.stop();
  assert.deepStrictEqual(a.exit, { code: 0, signal: null }, a.stderr);
}

test('certificate_from_another_ca_is_refused_with_the_reason', async () => {
  // Signed by CA B; the agent trusts only CA A.
  await assertRefused(pki.ipFromB, pki.caA.cert, hosts.XC,
    /not trusted, it does not chain to .*ca-a\.pem: .*unable to get local issuer/);
});

test('certificate_for_another_name_is_refused_with_the_reason', async () => {
  // Signed by the trusted CA A, but for relay.invalid and 127.0.0.2.
  await assertRefused(pki.otherName, pki.caA.cert, hosts.XN,
    /its names \(subjectAltName, else CN\) do not include 127\.0\.0\.1/);
});

/*
 * An agent API peer over TLS for host: checks signatures and timestamps as
 * the relay does and records what it saw. h2: HTTP/2 only (ALPN "h2").
 */
async function startH2Peer(host) {
  const st = { seqs: [], versions: [], sessions: 0, refused: [] };
  let lastTs = 0;
  const srv = http2.createSecureServer({
    key: fs.readFileSync(pki.ip.key), cert: fs.readFileSync(pki.ip.cert), allowHTTP1: false,
  }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      st.versions.push(req.httpVersion);
      const ts = Number(req.headers['x-sno-timestamp']);
      const want = sno.agentSignature(host.key, 'POST', req.url, String(ts), body);
      if (req.headers['x-sno-signature'] !== want || !(ts > lastTs)) {
        st.refused.push(`${req.url} ts=${ts} last=${lastTs}`);
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"bad signature or replayed timestamp"}');
        return;
      }
      lastTs = ts;
      let answer = { stream: true };
      if (req.url === '/agent/v1/samples') {
        const batch = JSON.parse(body);
        for (const s of batch) st.seqs.push(s.seq);
        answer = { stream: true, acked_seq: batch[batch.length - 1].seq };
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  srv.on('session', (s) => {
    st.sessions++;
    servers.push({ close: async () => s.destroy() });
  });
  st.port = await listen(srv);
  servers.push({ close: () => new Promise((resolve) => srv.close(() => resolve())) });
  return st;
}

test('http2_is_used_when_the_peer_offers_it', async () => {
  const peer = await startH2Peer(hosts.H2);
  const a = await startAgent(hosts.H2, peer.port, pki.caA.cert);
  await waitFor(() => peer.seqs.length >= 4, 12000, '4 samples over HTTP/2')
    .catch((e) => assert.fail(`${e.message} ${JSON.stringify(peer)}${diag()}`));
  await a.stop();
  assert.deepStrictEqual(a.exit, { code: 0, signal: null }, a.stderr);
  assert.deepStrictEqual(peer.refused, [], diag());
  assertConsecutive(peer.seqs, 'samples over HTTP/2');
  assert.ok(peer.versions.every((v) => v === '2.0'), `versions ${peer.versions.join(',')}`);
  assert.strictEqual(peer.sessions, 1, `one kept HTTP/2 connection, got ${peer.sessions}`);
});

test('request_read_then_cut_is_resent_signed_with_a_newer_timestamp', async () => {
  const host = hosts.RS;
  const st = { seqs: [], cut: 0, conns: 0, refused: [], stamps: [] };
  let lastTs = 0;
  const srv = http.createServer((req, res) => {
    const sock = req.socket;
    sock.served = (sock.served || 0) + 1;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const ts = Number(req.headers['x-sno-timestamp']);
      const want = sno.agentSignature(host.key, 'POST', req.url, String(ts), body);
      if (req.headers['x-sno-signature'] !== want || !(ts > lastTs)) {
        st.refused.push(`${req.url} ts=${ts} last=${lastTs}`);
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"bad signature or replayed timestamp"}');
        return;
      }
      // Accepted, as the relay would (its timestamp is now used up)...
      lastTs = ts;
      st.stamps.push(ts);
      if (sock.served === 2) {
        // ...but the answer never comes: the connection closes instead.
        st.cut++;
        sock.destroy();
        return;
      }
      let answer = { stream: true };
      if (req.url === '/agent/v1/samples') {
        const batch = JSON.parse(body);
        for (const s of batch) if (!st.seqs.includes(s.seq)) st.seqs.push(s.seq);
        answer = { stream: true, acked_seq: batch[batch.length - 1].seq };
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  srv.on('connection', () => {
    st.conns++;
  });
  const port = await listen(srv);
  servers.push({ close: () => new Promise((resolve) => srv.close(() => resolve())) });
  const a = await sno.startAgent(port, host, { dir });
  agents.push(a);
  await waitFor(() => st.seqs.length >= 4 && st.cut >= 3, 15000,
    `4 samples and 3 cut requests: ${JSON.stringify(st)}`)
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  await a.stop();
  assert.deepStrictEqual(a.exit, { code: 0, signal: null }, a.stderr);
  assert.deepStrictEqual(st.refused, [], `a resend reused a timestamp${diag()}`);
  assertConsecutive(st.seqs, 'samples across cut requests');
  assert.doesNotMatch(a.stderr, /unreachable|failed|refused/, diag());
});
