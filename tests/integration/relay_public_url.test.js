'use strict';
// Issue 9.10: the dashboard's POSTs (login, logout, pusher auth) are checked
// against the origins the relay is configured to serve the dashboard from
// (public_url, by default http://LISTEN), never against the Host header a
// DNS-rebinding page controls.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const sno = require('./lib/sno');
const { rawHttp, httpText } = require('./lib/rawhttp');

const relays = [];
after(async () => {
  for (const r of relays) {
    const exit = await r.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  }
});

async function start(relayKeys) {
  const r = await sno.startSnoRelay([], { relay: relayKeys });
  relays.push(r);
  return r;
}

// A login as a DNS-rebinding page sends it: Host and Origin both the
// attacker's name, the right password.
async function rebindLogin(r, origin, host) {
  const body = JSON.stringify({ user: 'alice', password: 'alice-pw' });
  const res = await rawHttp(r.port, [httpText('POST', '/api/v1/login', body,
    { Host: host, Origin: origin, 'Content-Type': 'application/json' })], 1,
  { timeoutMs: 15000 });
  return res.responses[0];
}

test('login_with_a_foreign_origin_matching_host_is_refused', async () => {
  const r = await start({});
  const res = await rebindLogin(r, 'http://evil.example', 'evil.example');
  assert.equal(res.status, 403, res.body);
  assert.ok(!res.headers['set-cookie'], 'no session for a foreign origin');
  const port = await rebindLogin(r, `http://evil.example:${r.port}`,
    `evil.example:${r.port}`);
  assert.equal(port.status, 403, port.body);
});

test('login_from_the_listen_address_origin_is_served_by_default', async () => {
  const r = await start({});
  const l = await sno.login(r, 'alice', 'alice-pw');
  assert.equal(l.status, 200, l.body);
  const local = await sno.login(r, 'alice', 'alice-pw',
    { origin: `http://localhost:${r.port}` });
  assert.equal(local.status, 200, `localhost origin: ${local.body}`);
  const other = await sno.login(r, 'alice', 'alice-pw',
    { origin: `http://127.0.0.1:${r.port + 1}` });
  assert.equal(other.status, 403, 'another port is another origin');
});

test('public_url_replaces_the_default_origin', async () => {
  const r = await start({ public_url: 'https://sno.example.com/' });
  const own = await sno.login(r, 'alice', 'alice-pw',
    { origin: 'https://sno.example.com' });
  assert.equal(own.status, 200, own.body);
  const listen = await sno.login(r, 'alice', 'alice-pw');
  assert.equal(listen.status, 403, 'the listen address is not the public one');
  const logout = await sno.api(r, 'POST', '/api/v1/logout',
    { cookie: own.cookie, origin: 'http://evil.example' });
  assert.equal(logout.status, 403, 'logout from a foreign origin');
});
