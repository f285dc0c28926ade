'use strict';
// Issue 15: a large fan-out is sliced across loop turns. 5,000 subscribers
// on one channel and 50 events published back to back: every subscriber
// gets every event in order, subscribers joining while the publishes run get
// a gapless, ordered tail of them, and a client on another channel gets its
// own event and the pong to its pusher:ping while the fan-out runs.
//
// The subscribers are bare TCP websockets that keep only the numbers of the
// events they got (a pusher-js client each would not fit in one process).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, signedRequest, waitFor, connectRaw, rawSubscribe,
  scrapeMetrics, metric,
} = require('./lib');
const { frame, connectFrames } = require('./lib/rawws');

const SUBS = 5000;
const JOINERS = 200;
const EVENTS = 50;
const PARALLEL = 250;
const CHANNEL = 'fanout-big';
let relay;
const socks = [];

before(async () => {
  relay = await startRelay();
});

after(async () => {
  for (const s of socks) s.destroy();
  await stopRelay(relay);
});

// A websocket subscribed to CHANNEL: resolves with {seqs, subscribed}
// once subscription_succeeded is in; seqs are the event numbers got, in
// the order they arrived.
async function subscriber() {
  const c = { seqs: [], bad: [], subscribed: false, closed: false };
  let timer;
  let done;
  const subscribed = new Promise((resolve, reject) => {
    done = resolve;
    timer = setTimeout(() => reject(new Error('subscriber: not subscribed in time')),
      30000);
  });
  const onText = (ws, text) => {
    let m;
    try {
      m = JSON.parse(text);
    } catch (_) {
      c.bad.push(text);
      return;
    }
    if (m.event === 'pusher:connection_established') {
      ws.send(frame({ payload: JSON.stringify({
        event: 'pusher:subscribe', data: { channel: CHANNEL },
      }) }));
    } else if (m.event === 'pusher_internal:subscription_succeeded') {
      c.subscribed = true;
      clearTimeout(timer);
      done(c);
    } else if (m.event === 'seq' && m.channel === CHANNEL) {
      c.seqs.push(Number(m.data));
    } else if (m.event !== 'pusher:ping') {
      c.bad.push(text);
    }
  };
  let ws;
  try {
    ws = await connectFrames(relay, {
      timeoutMs: 30000,
      onFrame: (op, payload, conn) => {
        if (op === 1) onText(conn, payload.toString('utf8'));
      },
    });
  } catch (err) {
    clearTimeout(timer);
    throw err;
  }
  socks.push(ws.sock);
  ws.sock.on('close', () => {
    c.closed = true;
  });
  return subscribed;
}

// n subscribers, PARALLEL handshakes at a time.
async function subscribers(n) {
  const out = [];
  for (let i = 0; i < n; i += PARALLEL) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + PARALLEL); k++) batch.push(subscriber());
    out.push(...await Promise.all(batch));
  }
  return out;
}

// Events from..to-1 on CHANNEL, ten per POST /batch_events (the batch
// limit), each batch sent once the one before is answered: the relay
// accepts a batch's events in one go, so their fan-outs queue up behind
// each other, and acceptance order is the publish order.
async function publishRun(from, to) {
  for (let i = from; i < to; i += 10) {
    const batch = [];
    for (let k = i; k < Math.min(to, i + 10); k++) {
      batch.push({ name: 'seq', channel: CHANNEL, data: String(k) });
    }
    const r = await signedRequest(relay, 'POST', `/apps/${relay.app.id}/batch_events`,
      { batch });
    assert.equal(r.status, 200, `batch from ${i}: ${r.status} ${r.body}`);
  }
}

async function publish(channel, name, data) {
  const r = await signedRequest(relay, 'POST', `/apps/${relay.app.id}/events`,
    { name, channel, data: String(data) });
  assert.equal(r.status, 200, `publish ${channel} ${data}: ${r.status} ${r.body}`);
}

test('sliced_fanout_keeps_order_for_every_subscriber_and_serves_others', async () => {
  const subs = await subscribers(SUBS);
  const other = await connectRaw(relay);
  await rawSubscribe(other, 'fanout-other');

  // Back to back, in batches. Joiners subscribe while the second run goes
  // on.
  await publishRun(0, 10);
  const joining = subscribers(JOINERS);
  await publishRun(10, EVENTS - 10);
  await joining; // joined before the last ten
  await publishRun(EVENTS - 10, EVENTS);
  const joiners = await joining;

  // While the fan-out of the last events runs: another channel's event and
  // a pusher:ping on the other client are both answered.
  const from = other.msgs.length;
  other.send({ event: 'pusher:ping', data: {} });
  await publish('fanout-other', 'mine', 'x');
  await waitFor(() => other.msgs.slice(from).some((m) => m.event === 'pusher:pong'),
    10000, 'pong on the other channel\'s client');
  await waitFor(() => other.msgs.slice(from).some((m) =>
    m.event === 'mine' && m.channel === 'fanout-other'), 10000,
  'the other channel\'s own event');
  const pendingAtAnswer = subs.filter((c) => c.seqs.length < EVENTS).length;

  const all = subs.concat(joiners);
  await waitFor(() => subs.every((c) => c.seqs.length >= EVENTS) &&
    joiners.every((c) => c.seqs.length >= 1 && c.seqs[c.seqs.length - 1] === EVENTS - 1),
  60000, 'every subscriber to get the last event');
  // One more event on the big channel: once everyone has it, nothing more
  // is in flight, so what each got is final.
  await publish(CHANNEL, 'seq', EVENTS);
  await waitFor(() => all.every((c) => c.seqs[c.seqs.length - 1] === EVENTS), 60000,
    'every subscriber to get the closing event');

  const expect = Array.from({ length: EVENTS + 1 }, (_, i) => i);
  for (const [i, c] of subs.entries()) {
    assert.deepEqual(c.seqs, expect, `subscriber ${i} got events out of order or lost`);
    assert.deepEqual(c.bad, [], `subscriber ${i} got unexpected frames`);
    assert.equal(c.closed, false, `subscriber ${i} was closed`);
  }
  for (const [i, c] of joiners.entries()) {
    // A gapless, ordered tail: from some event to the last, each once.
    const first = c.seqs[0];
    assert.ok(first <= EVENTS - 10, `joiner ${i} missed events accepted after it joined`);
    assert.deepEqual(c.seqs, expect.slice(first), `joiner ${i} got ${c.seqs.join(',')}`);
    assert.deepEqual(c.bad, [], `joiner ${i} got unexpected frames`);
  }
  assert.ok(relay.alive(), 'relay died');
  // Not asserted (timing): how many big-channel subscribers still waited
  // for events when the other client had been served.
  const m = await scrapeMetrics(relay);
  process.stdout.write(`# fan-out still running for ${pendingAtAnswer} of ${SUBS} ` +
    'subscribers when the other channel was served; longest loop turn ' +
    `${metric(m, 'sno_loop_turn_max_seconds')} s\n`);
  other.close();
});
