'use strict';
// Issue 9.2: `listen` binds exactly the address it names. The listening
// sockets are read from /proc/PID/net/tcp{,6}, matched to the relay by the
// socket inodes of its open files. (0.0.0.0 is not tried: tests listen on
// loopback addresses only.)

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startRelay, stopRelay, freePort, request } = require('./lib');
const { listeningSockets } = require('./lib/rawhttp');

async function listensOn(listen) {
  const port = await freePort();
  const relay = await startRelay({ relay: { listen: listen.replace('PORT', port) } });
  try {
    const socks = listeningSockets(relay.pid);
    return { port, relay, socks };
  } catch (e) {
    await stopRelay(relay);
    throw e;
  }
}

test('listen_127_0_0_1_binds_only_the_loopback_ipv4_address', async () => {
  const { port, relay, socks } = await listensOn('127.0.0.1:PORT');
  try {
    assert.deepEqual(socks, [{ family: 'tcp', addr: '127.0.0.1', port }],
      `listening sockets ${JSON.stringify(socks)}`);
    assert.equal((await request(port, 'GET', '/healthz')).status, 200);
  } finally {
    await stopRelay(relay);
  }
});

test('listen_ipv6_loopback_binds_only_it', async (t) => {
  let r;
  try {
    r = await listensOn('[::1]:PORT');
  } catch (e) {
    // A host without IPv6 cannot run this case; say so instead of passing.
    if (/cannot listen/.test(e.message)) {
      t.skip('no IPv6 loopback on this host');
      return;
    }
    throw e;
  }
  try {
    assert.deepEqual(r.socks, [{ family: 'tcp6', addr: '::1', port: r.port }],
      `listening sockets ${JSON.stringify(r.socks)}`);
  } finally {
    await stopRelay(r.relay);
  }
});
