'use strict';
// TLS on tls_listen: a certificate made at test time with the openssl CLI;
// pusher-js connects with forceTLS, the SDK publishes with useTLS, and the
// event crosses from https to wss. Certificates are verified against the
// generated one (no verification is switched off).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const tls = require('node:tls');
const net = require('node:net');
const {
  startRelay, stopRelay, connectPusher, sdkFor, subscribe, messages, waitMessage,
  disconnectAll, freePort, tmpDir, waitFor, selfSignedCert,
} = require('./lib');

let relay;
let tlsPort;
let ca;
let origConnect;
let certDir;
const clients = [];

before(async () => {
  const dir = tmpDir();
  certDir = dir;
  const { key, cert, ca: made } = selfSignedCert(dir);
  ca = made;
  // pusher-js's Node build (faye-websocket) calls tls.connect without a CA
  // option; trust the test certificate for connections in this process only.
  origConnect = tls.connect;
  tls.connect = function connect(...args) {
    if (args[0] && typeof args[0] === 'object' && !args[0].ca) {
      args[0] = { ...args[0], ca };
      // SNI may not carry an IP address (RFC 6066); the SAN check still runs.
      if (net.isIP(args[0].servername || '')) delete args[0].servername;
    }
    return origConnect.apply(this, args);
  };
  tlsPort = await freePort();
  relay = await startRelay({
    dir,
    relay: { tls_listen: `127.0.0.1:${tlsPort}`, tls_cert: cert, tls_key: key },
  });
});

after(async () => {
  disconnectAll(clients);
  await stopRelay(relay);
  if (origConnect) tls.connect = origConnect;
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

function tlsSdk() {
  return sdkFor(relay, { port: tlsPort, useTLS: true, agent: new https.Agent({ ca }) });
}

test('https_trigger_is_delivered_over_wss_to_pusher_js_with_forceTLS', async () => {
  const c = await connectPusher(relay, { tls: { wssPort: tlsPort } });
  clients.push(c);
  await subscribe(c, 'secure-news');
  const got = [];
  c.channel('secure-news').bind('secret', (d) => got.push(d));
  const res = await tlsSdk().trigger('secure-news', 'secret', { over: 'tls' });
  assert.equal(res.status, 200);
  await waitFor(() => got.length === 1, 3000, 'event over wss');
  assert.deepEqual(got[0], { over: 'tls' });
});

test('wss_connection_uses_tls_and_presents_generated_certificate', async () => {
  const sock = await new Promise((resolve, reject) => {
    const s = origConnect({ host: '127.0.0.1', port: tlsPort, ca },
      () => resolve(s));
    s.on('error', reject);
  });
  try {
    assert.ok(sock.authorized, `TLS not authorised: ${sock.authorizationError}`);
    const peer = sock.getPeerCertificate();
    assert.equal(peer.subject.CN, '127.0.0.1');
  } finally {
    sock.destroy();
  }
});

test('private_channel_over_wss_is_authorised', async () => {
  const c = await connectPusher(relay, { tls: { wssPort: tlsPort } });
  clients.push(c);
  await subscribe(c, 'private-secure');
  assert.equal(messages(c, 'pusher_internal:subscription_succeeded', 'private-secure').length, 1);
  await tlsSdk().trigger('private-secure', 'p', { ok: true });
  await waitMessage(c, 'p', 'private-secure', 3000);
});

test('https_api_answers_channels_query', async () => {
  const c = await connectPusher(relay, { tls: { wssPort: tlsPort } });
  clients.push(c);
  await subscribe(c, 'secure-listed');
  const res = await tlsSdk().get({ path: '/channels/secure-listed',
    params: { info: 'subscription_count' } });
  const body = await res.json();
  assert.equal(body.occupied, true);
  assert.equal(body.subscription_count, 1);
});

test('plain_listener_keeps_working_next_to_tls', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  await subscribe(c, 'plain-too');
  await sdkFor(relay).trigger('plain-too', 'e', {});
  await waitMessage(c, 'e', 'plain-too', 2000);
});
