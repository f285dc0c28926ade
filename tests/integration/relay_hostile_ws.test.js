'use strict';
// Issue 9.12 and the frame-level attacks: raw RFC 6455 frames no client
// library sends, against a real relay. Each gets the close code the RFC
// asks for (or, where lws drops the socket first, at least a closed
// connection), nothing is answered after it, and afterwards the relay
// answers /healthz and a healthy pusher-js subscriber still gets a
// published event within 1 s.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {
  startRelay, stopRelay, connectPusher, sdkFor, subscribe, waitMessage, waitFor,
  request, sleep,
} = require('./lib');
const { frame, closePayload, connectFrames } = require('./lib/rawws');

const PING = JSON.stringify({ event: 'pusher:ping', data: {} });
let relay;
let sdk;
let healthy;
const open = [];

before(async () => {
  relay = await startRelay();
  sdk = sdkFor(relay);
  healthy = await connectPusher(relay);
  await subscribe(healthy, 'health');
});

after(async () => {
  for (const c of open) c.sock.destroy();
  if (healthy) healthy.disconnect();
  await stopRelay(relay);
});

afterEach(async () => {
  assert.ok(relay.alive(), `relay died\n${relay.logs().slice(-3000)}`);
  assert.equal((await request(relay.port, 'GET', '/healthz')).status, 200);
  const tag = crypto.randomBytes(6).toString('hex');
  await sdk.trigger('health', 'check', { tag });
  await waitMessage(healthy, 'check', 'health', 1000, (m) => m.data.tag === tag);
});

// A raw client past pusher:connection_established.
async function established() {
  const c = await connectFrames(relay);
  open.push(c);
  await waitFor(() => c.texts().length > 0, 3000, 'connection_established');
  assert.match(c.texts()[0], /pusher:connection_established/);
  return c;
}

/*
 * Send bytes and wait for the relay's close frame (want: its code) and the
 * end of the connection. A client answers a close with its own (RFC 6455
 * 5.5.1), after which the relay must drop the TCP connection.
 */
async function expectClose(c, bytes, want) {
  const n = c.texts().length;
  c.send(bytes);
  await waitFor(() => c.closeCode !== null || c.closed, 5000,
    `the relay to close (frames ${JSON.stringify(c.frames.map((f) => f.opcode))})`);
  if (want !== undefined) assert.equal(c.closeCode, want, `close code ${c.closeCode}`);
  if (!c.closed) c.send(frame({ opcode: 8, payload: closePayload(1000) }));
  await waitFor(() => c.closed, 10000, 'the TCP connection to end');
  assert.deepEqual(c.texts().slice(n), [], 'nothing answered after the bad frame');
}

// ---- RFC 6455 close handshake (issue 9.12) ----

for (const code of [65535, 1005, 1006, 1004, 999, 2999, 5000]) {
  test(`close_code_${code}_from_a_client_is_answered_1002`, async () => {
    await expectClose(await established(), frame({ opcode: 8, payload: closePayload(code) }),
      1002);
  });
}

test('close_frame_with_a_1_byte_payload_is_answered_1002', async () => {
  await expectClose(await established(), frame({ opcode: 8, payload: Buffer.from([3]) }), 1002);
});

test('close_reason_that_is_not_utf8_is_answered_1007', async () => {
  await expectClose(await established(), frame({ opcode: 8,
    payload: Buffer.concat([closePayload(1000), Buffer.from([0xc3, 0x28])]) }), 1007);
});

test('valid_close_is_echoed', async () => {
  await expectClose(await established(), frame({ opcode: 8, payload: closePayload(4000, 'bye') }),
    4000);
});

test('data_after_a_clients_close_is_not_answered', async () => {
  const c = await established();
  const n = c.texts().length;
  c.send(Buffer.concat([frame({ opcode: 8, payload: closePayload(1000) }),
    frame({ payload: PING }), frame({ payload: PING })]));
  await waitFor(() => c.closed, 10000, 'the connection to end');
  assert.deepEqual(c.texts().slice(n), [], 'a pusher:pong after the close');
  assert.ok(c.closeCode === 1000 || c.closeCode === 1002, `close code ${c.closeCode}`);
});

// RFC 6455 5.1 wants 1002 here, but lws 4.1.6 neither checks nor reports
// the MASK bit (a later upstream lws closes 1002 "client unmasked"; require
// 1002 here once Debian ships it): lws_ws_rx_sm (lib/roles/ws/ops-ws.c)
// keeps it in the private wsi->ws->this_frame_masked, and no public call
// (lws_frame_is_binary, lws_get_reserved_bits, lws_is_final_fragment, ...)
// nor an extension's LWS_EXT_CB_PAYLOAD_RX, which sees the payload after
// unmasking, reveals it. Struct offsets or an interposed library are ruled
// out, so the relay accepts it. That gives an attacker nothing: the payload
// is byte for byte what the same frame masked with the key 00 00 00 00
// delivers, and any client may pick that key (docs/architecture.md, "What
// libwebsockets 4.1.6 cannot do"). What must hold: the relay stays up for
// everyone (afterEach checks it) and this connection is answered (a pong)
// or closed, never left hanging.
test('unmasked_client_frame_is_answered_or_closed', async () => {
  const c = await established();
  const n = c.texts().length;
  c.send(frame({ payload: PING, mask: false }));
  await waitFor(() => c.closed || c.texts().length > n, 10000,
    'a pong or a close');
});

// ---- frame-level attacks ----

const attacks = {
  reserved_opcode_3: frame({ opcode: 3, payload: 'x' }),
  reserved_control_opcode_0xb: frame({ opcode: 0xb, payload: 'x' }),
  rsv1_without_an_extension: frame({ rsv: 4, payload: PING }),
  rsv3_bit: frame({ rsv: 1, payload: PING }),
  fragmented_ping: frame({ opcode: 9, fin: false, payload: 'x' }),
  continuation_without_a_start: frame({ opcode: 0, payload: 'x' }),
  new_text_inside_a_fragmented_message: Buffer.concat([frame({ fin: false, payload: '{"ev' }),
    frame({ payload: PING })]),
};
for (const [name, bytes] of Object.entries(attacks)) {
  test(`frame_${name}_is_answered_1002`, async () => {
    await expectClose(await established(), bytes, 1002);
  });
}

// Lengths the relay can never hold: the connection ends (lws may drop it
// without a close frame), nothing is buffered for them.
const fatal = {
  ping_of_126_bytes: frame({ opcode: 9, payload: 'x'.repeat(126) }),
  length_2_to_the_63: frame({ payload: 'abc', len: 2n ** 63n }),
  length_2_to_the_64_minus_1: frame({ payload: 'abc', len: 2n ** 64n - 1n }),
  length_2_to_the_62: frame({ payload: 'abc', len: 2n ** 62n }),
};
for (const [name, bytes] of Object.entries(fatal)) {
  test(`frame_${name}_ends_the_connection`, async () => {
    const c = await established();
    await expectClose(c, bytes);
    if (c.closeCode !== null) {
      assert.ok([1002, 1009].includes(c.closeCode), `close code ${c.closeCode}`);
    }
  });
}

test('many_bad_frames_at_once_leave_the_relay_serving', async () => {
  const all = Object.values(attacks).concat(Object.values(fatal));
  const conns = await Promise.all(Array.from({ length: 50 }, () => established()));
  conns.forEach((c, i) => c.send(all[i % all.length]));
  await waitFor(() => conns.every((c) => c.closed || c.closeCode !== null), 10000,
    'every attacked connection to be closed');
  // The close frames are answered so each TCP connection ends.
  for (const c of conns) if (!c.closed) c.send(frame({ opcode: 8, payload: closePayload(1000) }));
  await waitFor(() => conns.every((c) => c.closed), 10000, 'every connection to end');
  await sleep(0);
});
