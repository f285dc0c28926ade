'use strict';
// Issue 10, acceptance 4: SIGHUP reloads the relay's configuration without
// dropping connections. One relay (metrics app sno, host H, app old from an
// included file, TLS listener) with 100 raw websocket clients on the sno
// app; the tests run in order and share it:
//   - a reload that adds an app (conf.d file), a host (sno-relay new-host
//     --write) and changes log_level keeps all 100 connected and receiving;
//     the new app publishes with the pusher SDK; the new host's real
//     sno-agent streams; debug lines appear only after the reload;
//   - a broken included file leaves everything as it was (the old app, whose
//     file was removed in the same edit, still works) and is logged FILE:LINE;
//   - removing the old app closes its clients with 4100 and a reconnect is
//     refused with 4001; removing a host closes its viewers with 4200;
//   - a new TLS pair at the same paths is used by the next handshake while a
//     wss client connected before stays up;
//   - systemd hears READY=1, RELOADING=1 with MONOTONIC_USEC, READY=1 and
//     STOPPING=1 on $NOTIFY_SOCKET, and /readyz says ready.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const crypto = require('node:crypto');
const { spawnSync, execFileSync } = require('node:child_process');
const {
  connectRaw, rawSubscribe, connectPusher, sdkFor, subscribe, messages,
  disconnectAll, waitFor, freePort, tmpDir, request, RELAY_BIN, WebSocket,
} = require('./lib');
const sno = require('./lib/sno');
const { startNotifyListener } = require('./lib/notify');

const N = 100;
const OLD_APP = { name: 'old', id: 'old', key: 'old-key', secret: 'old-secret' };
const FRESH_APP = { name: 'fresh', id: 'fresh', key: 'fresh-key', secret: 'fresh-secret' };
let dir, confd, relay, H, N2, tlsPort, notify;
let certA, certB;
const many = [];
const clients = [];
const agents = [];

function diag() {
  return `\n--- relay stderr (tail) ---\n${relay && relay.logs().slice(-6000)}`;
}

function appSection(a) {
  return `[app ${a.name}]\nid = ${a.id}\nkey = ${a.key}\nsecret = ${a.secret}\n`;
}

// A self-signed certificate for 127.0.0.1 with its own CN.
function makeCert(cn) {
  const key = path.join(dir, `${cn}.key`);
  const cert = path.join(dir, `${cn}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const pem = fs.readFileSync(cert);
  return { key, cert, pem, keyPem: fs.readFileSync(key),
    fingerprint: new crypto.X509Certificate(pem).fingerprint256 };
}

// A TLS handshake verified against ca; resolves the server certificate's
// SHA-256 fingerprint, rejects if verification fails.
function handshake(ca) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: tlsPort, ca }, () => {
      const fp = s.getPeerX509Certificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
    s.setTimeout(10000, () => s.destroy(new Error('handshake timed out')));
  });
}

function reloads() {
  return (relay.logs().match(/relay reloaded /g) || []).length;
}
function failures() {
  return (relay.logs().match(/relay reload=failed/g) || []).length;
}
async function hup(what) {
  const ok = reloads();
  const bad = failures();
  process.kill(relay.pid, 'SIGHUP');
  await waitFor(() => reloads() > ok || failures() > bad, 15000, `reload (${what})`);
  return reloads() > ok;
}

// Publishes on the sno app's public channel; waits until all N raw clients
// have it.
async function publishToMany(tag) {
  const ev = `tick-${tag}`;
  await sdkFor(relay, { app: sno.METRICS_APP }).trigger('ticks', ev, { tag });
  await waitFor(() => many.every((r) => r.msgs.some((m) => m.event === ev)), 20000,
    `all ${N} clients to get ${ev} (have ` +
    `${many.filter((r) => r.msgs.some((m) => m.event === ev)).length})`);
}

function setRelayKey(key, value) {
  let text = fs.readFileSync(relay.configFile, 'utf8');
  const re = new RegExp(`^${key} = .*$`, 'm');
  text = re.test(text) ? text.replace(re, `${key} = ${value}`)
    : text.replace('[relay]\n', `[relay]\n${key} = ${value}\n`);
  fs.writeFileSync(relay.configFile, text);
}

before(async () => {
  dir = tmpDir();
  confd = path.join(dir, 'conf.d');
  fs.mkdirSync(confd);
  fs.writeFileSync(path.join(confd, '10-old.conf'), appSection(OLD_APP));
  certA = makeCert('cert-a');
  tlsPort = await freePort();
  // The relay reads its pair from fixed paths; the swap rewrites them.
  const live = { cert: path.join(dir, 'live.pem'), key: path.join(dir, 'live.key') };
  fs.copyFileSync(certA.cert, live.cert);
  fs.copyFileSync(certA.key, live.key);
  const sock = path.join(dir, 'notify.sock');
  notify = startNotifyListener(sock);
  await notify.bound;
  H = sno.newHost('H', 'acme');
  process.env.NOTIFY_SOCKET = sock;
  try {
    relay = await sno.startSnoRelay([H], { dir, relay: {
      include: 'conf.d/*.conf', log_level: 'info',
      tls_listen: `127.0.0.1:${tlsPort}`, tls_cert: live.cert, tls_key: live.key } });
  } finally {
    delete process.env.NOTIFY_SOCKET;
  }
  relay.live = live;
  for (let i = 0; i < N; i++) {
    const r = await connectRaw(relay, { key: sno.METRICS_APP.key });
    many.push(r);
    const res = await rawSubscribe(r, 'ticks');
    assert.equal(res.event, 'pusher_internal:subscription_succeeded');
  }
});

after(async () => {
  disconnectAll(many);
  disconnectAll(clients);
  for (const a of agents) await sno.stopDaemon(a);
  if (relay) {
    const info = await relay.stop();
    const log = relay.logs();
    const report = log.match(/(==\d+==ERROR: \w+Sanitizer.*|runtime error:.*)/);
    assert.equal(report, null, `relay reported: ${report && report[0]}\n${log.slice(-4000)}`);
    assert.deepEqual(info, { code: 0, signal: null }, log.slice(-4000));
  }
  if (notify) notify.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('systemd_hears_ready_and_readyz_says_ready', async () => {
  await waitFor(() => notify.lines.some((l) => /^READY=1$/m.test(l)), 10000, 'READY=1');
  const r = await request(relay.port, 'GET', '/readyz');
  assert.equal(r.status, 200, r.body);
  const j = JSON.parse(r.body);
  assert.equal(j.ready, true);
  assert.equal(j.listeners, true);
  assert.equal(j.config, true);
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
});

test('reload_adds_app_host_and_log_level_without_dropping_100_clients', async () => {
  await publishToMany('before');
  const oldClient = await connectPusher(relay, { app: OLD_APP });
  clients.push(oldClient);
  await subscribe(oldClient, 'o');

  // A client error is logged at debug level only: none before the reload.
  many[0].send({ event: 'pusher:nonsense', data: {} });
  await waitFor(() => many[0].msgs.some((m) => m.event === 'pusher:error'), 5000, 'error');
  assert.doesNotMatch(relay.logs(), /debug ws conn=\S+ error/, diag());

  fs.writeFileSync(path.join(confd, '20-fresh.conf'), appSection(FRESH_APP));
  const nh = spawnSync(RELAY_BIN, ['new-host', 'N2', '--account', 'acme', '--write', confd],
    { encoding: 'utf8', timeout: 10000 });
  assert.equal(nh.status, 0, nh.stderr);
  N2 = { name: 'N2', account: 'acme', key: nh.stdout.trim() };
  assert.match(N2.key, /^[0-9a-f]{64}$/);
  setRelayKey('log_level', 'debug');
  const notes = notify.lines.length;
  assert.equal(await hup('add'), true, diag());
  assert.match(relay.logs(), /relay reloaded apps=3 added=1 removed=0 hosts=2 added=1 removed=0 .*log_level=debug/, diag());

  // systemd's reload protocol: RELOADING=1 with MONOTONIC_USEC, then READY=1.
  await waitFor(() => notify.lines.slice(notes).some((l) => /^READY=1$/m.test(l)), 10000,
    'READY=1 after the reload');
  const after = notify.lines.slice(notes);
  assert.match(after[0], /^RELOADING=1$/m);
  assert.match(after[0], /^MONOTONIC_USEC=\d+$/m);

  // All 100 are still connected (no close seen) and still receive.
  assert.equal(many.filter((r) => r.closed).length, 0);
  await publishToMany('after');
  assert.equal(oldClient.connection.state, 'connected');

  // log_level=debug took effect.
  many[1].send({ event: 'pusher:nonsense', data: {} });
  await waitFor(() => /debug ws conn=\S+ error/.test(relay.logs()), 5000, 'a debug line');

  // The new app publishes (pusher SDK) to a pusher-js client.
  const fresh = await connectPusher(relay, { app: FRESH_APP });
  clients.push(fresh);
  await subscribe(fresh, 'f');
  await sdkFor(relay, { app: FRESH_APP }).trigger('f', 'hello', { n: 1 });
  await waitFor(() => messages(fresh, 'hello', 'f').length === 1, 10000, 'fresh app event');

  // The new host's real agent streams to a viewer.
  const agent = await sno.startAgent(relay.port, N2);
  agents.push(agent);
  const viewer = await sno.connectMetricsPusher(relay);
  clients.push(viewer);
  await subscribe(viewer, 'private-host-N2');
  await waitFor(() => sno.samplesOf(viewer, 'private-host-N2').length >= 2, 20000,
    `samples from N2's agent${diag()}`);
});

test('broken_file_leaves_everything_as_it_was', async () => {
  // One edit: the old app's file goes away and a broken file arrives.
  fs.renameSync(path.join(confd, '10-old.conf'), path.join(dir, '10-old.conf.off'));
  fs.writeFileSync(path.join(confd, '30-broken.conf'),
    '[app broken]\nid = b\nbogus_key = 1\n');
  assert.equal(await hup('broken'), false);
  assert.match(relay.logs(), /relay reload=failed error=".*30-broken\.conf:3: unknown key 'bogus_key' in \[app broken\]"/, diag());
  const r = JSON.parse((await request(relay.port, 'GET', '/readyz')).body);
  assert.equal(r.ready, true);
  assert.equal(r.reload_failures, 1);
  assert.match(r.last_reload_error, /30-broken\.conf:3:/);

  // The old app still works, the 100 still receive.
  const oldClient = clients[0];
  assert.equal(oldClient.connection.state, 'connected');
  await sdkFor(relay, { app: OLD_APP }).trigger('o', 'still', {});
  await waitFor(() => messages(oldClient, 'still', 'o').length === 1, 10000, 'old app event');
  assert.equal(many.filter((x) => x.closed).length, 0);
  await publishToMany('broken');
});

test('removed_app_clients_closed_with_4100_and_refused_after', async () => {
  const raw = await connectRaw(relay, { key: OLD_APP.key });
  clients.push(raw);
  assert.equal((await rawSubscribe(raw, 'o')).event, 'pusher_internal:subscription_succeeded');
  fs.unlinkSync(path.join(confd, '30-broken.conf'));
  assert.equal(await hup('remove old'), true, diag());
  assert.match(relay.logs(), /relay reload app=old msg="removed" code=4100/);
  await waitFor(() => raw.closed, 10000, 'the old app client to be closed');
  assert.equal(raw.closed.code, 4100);
  // pusher-js backs off and comes back: its key is now unknown (4001).
  const again = await connectRaw(relay, { key: OLD_APP.key });
  clients.push(again);
  await waitFor(() => again.closed, 10000, 'the reconnect to be refused');
  assert.equal(again.closed.code, 4001);
  assert.equal(many.filter((x) => x.closed).length, 0);
  await publishToMany('removed');
});

test('removed_host_viewers_closed_with_4200_and_agent_refused', async () => {
  const raw = await connectRaw(relay, { key: sno.METRICS_APP.key });
  clients.push(raw);
  const sdk = sdkFor(relay, { app: sno.METRICS_APP });
  const auth = sdk.authorizeChannel(raw.socketId, 'private-host-N2').auth;
  assert.equal((await rawSubscribe(raw, 'private-host-N2', { auth })).event,
    'pusher_internal:subscription_succeeded');
  fs.unlinkSync(path.join(confd, 'host-N2.conf'));
  assert.equal(await hup('remove host'), true, diag());
  await waitFor(() => raw.closed, 10000, 'the viewer of N2 to be closed');
  assert.equal(raw.closed.code, 4200);
  await waitFor(() => /agent refused host="N2" .*unknown host/.test(relay.logs()), 30000,
    'the N2 agent to be refused');
  assert.equal(many.filter((x) => x.closed).length, 0);
});

test('dashboard_sessions_follow_their_users', async () => {
  const alice = await sno.login(relay, 'alice', 'alice-pw');
  const mallory = await sno.login(relay, 'mallory', 'mallory-pw');
  assert.equal(alice.status, 200);
  assert.equal(mallory.status, 200);
  // mallory leaves the configuration; alice stays as she was.
  const text = fs.readFileSync(relay.configFile, 'utf8');
  const cut = text.replace(/\[user mallory\]\naccount = other\npassword_hash = \S+\n/, '');
  assert.notEqual(cut, text);
  fs.writeFileSync(relay.configFile, cut);
  assert.equal(await hup('remove mallory'), true, diag());
  const me = await sno.api(relay, 'GET', '/api/v1/me', { cookie: alice.cookie });
  assert.equal(me.status, 200, me.body);
  assert.equal(JSON.parse(me.body).user, 'alice');
  const gone = await sno.api(relay, 'GET', '/api/v1/me', { cookie: mallory.cookie });
  assert.equal(gone.status, 401, gone.body);
  const again = await sno.login(relay, 'mallory', 'mallory-pw');
  assert.equal(again.status, 401);
});

test('history_seconds_change_resizes_rings_keeping_the_newest', async () => {
  const batch = [];
  for (let seq = 1; seq <= 30; seq++) batch.push(sno.makeSample('H', seq));
  const post = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples', batch);
  assert.equal(post.status, 200, post.body);
  const alice = await sno.login(relay, 'alice', 'alice-pw');
  const seqs = async () => {
    const r = await sno.api(relay, 'GET', '/api/v1/hosts/H/history?since=0',
      { cookie: alice.cookie });
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body).samples.map((x) => x.seq);
  };
  assert.equal((await seqs()).length, 30);
  setRelayKey('history_seconds', '10');
  assert.equal(await hup('shrink history'), true, diag());
  assert.deepEqual(await seqs(), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
  setRelayKey('history_seconds', '600');
  assert.equal(await hup('grow history'), true, diag());
  const more = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples',
    [sno.makeSample('H', 31), sno.makeSample('H', 32)]);
  assert.equal(more.status, 200, more.body);
  assert.deepEqual(await seqs(), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]);
});

test('tls_pair_swap_is_used_by_the_next_handshake', async () => {
  assert.equal(await handshake(certA.pem), certA.fingerprint);
  // A wss client connected under the old pair.
  const wss = new WebSocket(`wss://127.0.0.1:${tlsPort}/app/${sno.METRICS_APP.key}?protocol=7`,
    { ca: certA.pem });
  const wssMsgs = [];
  let wssClosed = null;
  wss.on('message', (d) => wssMsgs.push(JSON.parse(d.toString())));
  wss.on('close', (code) => {
    wssClosed = code;
  });
  clients.push(wss);
  await waitFor(() => wssMsgs.some((m) => m.event === 'pusher:connection_established'),
    10000, 'wss connected');
  wss.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'ticks' } }));
  await waitFor(() => wssMsgs.some((m) => m.event === 'pusher_internal:subscription_succeeded'),
    10000, 'wss subscribed');

  certB = makeCert('cert-b');
  fs.copyFileSync(certB.cert, relay.live.cert);
  fs.copyFileSync(certB.key, relay.live.key);
  assert.equal(await hup('tls'), true, diag());
  assert.match(relay.logs(), /relay reloaded .*tls=reloaded/);
  assert.equal(await handshake(certB.pem), certB.fingerprint);
  await assert.rejects(handshake(certA.pem), /self.signed|unable to verify|certificate/i);

  // The connection made under the old pair is still up and receives.
  assert.equal(wssClosed, null);
  await publishToMany('tls');
  await waitFor(() => wssMsgs.some((m) => m.event === 'tick-tls'), 10000, 'wss got the event');
});

test('bad_tls_pair_keeps_the_running_one', async () => {
  fs.writeFileSync(relay.live.key, certA.keyPem); // does not match cert B
  assert.equal(await hup('bad tls'), false);
  assert.match(relay.logs(), /relay reload=failed error=".*relay\.ini:0: tls_key \S*live\.key: key values mismatch"/, diag());
  assert.equal(await handshake(certB.pem), certB.fingerprint);
  fs.writeFileSync(relay.live.key, certB.keyPem);
});

test('stopping_is_notified', async () => {
  const from = notify.lines.length;
  // Clients go first: a pusher-js client that sees the relay stop keeps
  // retrying on timers and holds this process open.
  disconnectAll(many);
  disconnectAll(clients);
  for (const a of agents) await sno.stopDaemon(a);
  await relay.stop();
  await waitFor(() => notify.lines.slice(from).some((l) => /^STOPPING=1$/m.test(l)), 10000,
    'STOPPING=1');
});
