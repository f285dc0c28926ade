'use strict';
// Issue 9, defect 1: every pipelined HTTP/1.1 request, GET or POST, is
// answered, in order, on one keep-alive connection, on the plain and on the
// TLS listener. Signed publishes written in one write are each answered 200
// and their events reach a pusher-js subscriber in the order sent; a body
// that comes in a later write is read as that request's body. (libwebsockets
// 4.1.6 once mis-read them: relay/lws_pipeline.c, docs/architecture.md "What
// libwebsockets 4.1.6 cannot do".) The ASan build's log is checked at stop.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const {
  startRelay, stopRelay, connectPusher, subscribe, messages, waitFor, freePort,
  tmpDir, selfSignedCert, signedPublishText,
} = require('./lib');
const { rawHttp, httpText } = require('./lib/rawhttp');

let relay;
let sub;
let dir;
let tlsPort;
let ca;

before(async () => {
  dir = tmpDir();
  const cert = selfSignedCert(dir);
  ca = cert.ca;
  tlsPort = await freePort();
  relay = await startRelay({
    dir,
    relay: { tls_listen: `127.0.0.1:${tlsPort}`, tls_cert: cert.cert, tls_key: cert.key },
  });
  sub = await connectPusher(relay);
  await subscribe(sub, 'pipe');
});

after(async () => {
  if (sub) sub.disconnect();
  await stopRelay(relay);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const listeners = [
  { name: 'plain', port: () => relay.port, opts: () => ({}) },
  { name: 'tls', port: () => tlsPort, opts: () => ({ tls: { ca } }) },
];

// A signed publish of {tag, pad} on 'pipe' as raw request text.
function publish(tag, pad = '') {
  return signedPublishText(relay, 'pipe', { tag, pad });
}

function tagsOf(n) {
  const run = crypto.randomBytes(4).toString('hex');
  return Array.from({ length: n }, (_, i) => `${run}-${i}`);
}

// Every tag's event reached the subscriber once, in the order of tags.
async function assertDeliveredInOrder(tags) {
  const seen = () => messages(sub, 'ev', 'pipe').map((m) => m.data.tag)
    .filter((t) => tags.includes(t));
  await waitFor(() => seen().length >= tags.length, 3000, `${tags.length} events`);
  assert.deepEqual(seen(), tags);
}

// Resolves on the next bytes the relay sends on sock.
function nextAnswer(sock) {
  return new Promise((resolve) => sock.once('data', resolve));
}

for (const l of listeners) {
  for (const n of [2, 3, 10]) {
    test(`${n}_signed_publishes_in_one_write_are_answered_and_delivered_in_order_${l.name}`,
      async () => {
        const tags = tagsOf(n);
        const r = await rawHttp(l.port(), [tags.map((t) => publish(t)).join('')], n,
          { ...l.opts(), timeoutMs: 10000 });
        assert.deepEqual(r.responses.map((x) => x.status), Array(n).fill(200),
          r.responses.map((x) => x.body).join(' | '));
        assert.equal(r.closed, false, 'keep-alive connection stays open');
        await assertDeliveredInOrder(tags);
      });
  }

  test(`mixed_gets_and_posts_in_one_write_are_answered_in_order_${l.name}`, async () => {
    const tags = tagsOf(3);
    const writes = [httpText('GET', '/healthz') + publish(tags[0]) + httpText('GET', '/nope') +
      publish(tags[1]) + httpText('POST', '/apps/1/events?auth_key=x', '{}') +
      httpText('GET', '/healthz') + publish(tags[2])];
    const r = await rawHttp(l.port(), writes, 7, { ...l.opts(), timeoutMs: 10000 });
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 404, 200, 401, 200, 200]);
    assert.equal(r.closed, false);
    await assertDeliveredInOrder(tags);
  });

  // The second publish's head (and 10 bytes of its body) come with the
  // first; the rest of its body only once the first is answered. Its body
  // is bigger than one read of lws (32 KiB).
  test(`a_pipelined_publish_whose_body_comes_later_is_read_whole_${l.name}`, async () => {
    const tags = tagsOf(2);
    const second = publish(tags[1], 'x'.repeat(40000));
    const cut = second.indexOf('\r\n\r\n') + 4 + 10;
    const r = await rawHttp(l.port(), [publish(tags[0]) + second.slice(0, cut),
      nextAnswer, second.slice(cut)], 2, { ...l.opts(), timeoutMs: 10000 });
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200],
      r.responses.map((x) => x.body).join(' | '));
    assert.equal(r.closed, false);
    await assertDeliveredInOrder(tags);
  });

  // Only the start of the second publish's head comes with the first (lws
  // keeps it, and parses it before the rest arrives).
  test(`a_pipelined_publish_whose_head_comes_in_two_writes_is_answered_${l.name}`, async () => {
    const tags = tagsOf(2);
    const second = publish(tags[1]);
    const r = await rawHttp(l.port(), [publish(tags[0]) + second.slice(0, 30), nextAnswer,
      second.slice(30)], 2, { ...l.opts(), timeoutMs: 10000 });
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200],
      r.responses.map((x) => x.body).join(' | '));
    assert.equal(r.closed, false);
    await assertDeliveredInOrder(tags);
  });

  // Three publishes with bodies bigger than one read, then a GET, in one
  // write: lws reads each body in several pieces.
  test(`pipelined_publishes_with_bodies_over_32_KiB_are_answered_in_order_${l.name}`,
    async () => {
      const tags = tagsOf(3);
      const r = await rawHttp(l.port(), [tags.map((t) => publish(t, 'y'.repeat(33000)))
        .join('') + httpText('GET', '/healthz')], 4, { ...l.opts(), timeoutMs: 10000 });
      assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 200, 200]);
      await assertDeliveredInOrder(tags);
    });
}

// The client writes three publishes and closes its side at once (a FIN
// behind them, as `printf ... | nc -N` does): each is still answered, then
// the relay closes.
test('publishes_pipelined_before_the_clients_close_are_each_answered', async () => {
  const tags = tagsOf(3);
  const r = await rawHttp(relay.port, [tags.map((t) => publish(t)).join(''),
    async (sock) => sock.end()], 3, { timeoutMs: 10000, waitClose: true });
  assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 200]);
  assert.equal(r.closed, true);
  await assertDeliveredInOrder(tags);
});
