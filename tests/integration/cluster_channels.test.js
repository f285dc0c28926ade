'use strict';
// Issue 12 ("Pusher features done once": subscription counting), across
// two relay nodes on one redis-server, the app with subscription_count =
// yes: pusher_internal:subscription_count carries the cluster's count, so
// subscribers on A and B agree on it as sockets come and go on either node;
// over 100 subscribers split across the nodes the events are coalesced and
// the last count arrives on both; presence channels get none.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { connectRaw, subscribe, messages, waitFor } = require('./lib');
const { startCluster } = require('./lib/cluster');

const EV = 'pusher_internal:subscription_count';
let cluster;
let A;
let B;
const raws = [];

before(async () => {
  cluster = await startCluster();
  const opts = { app: { subscription_count: 'yes' } };
  A = await cluster.node('relay-a', opts);
  B = await cluster.node('relay-b', opts);
});

after(() => {
  for (const r of raws) r.close();
  return cluster && cluster.stop();
});

function counts(c, ch) {
  return messages(c, EV, ch).map((m) => m.data.subscription_count);
}

test('subscribers_on_A_and_B_are_told_the_clusters_count', async () => {
  const a1 = await cluster.client(A);
  const a2 = await cluster.client(A);
  const b1 = await cluster.client(B);
  const chs = [await subscribe(a1, 'room'), await subscribe(a2, 'room'),
    await subscribe(b1, 'room')];
  await waitFor(() => chs.every((ch) => ch.subscriptionCount === 3), 5000,
    'every subscriber on A and B told 3');
  b1.unsubscribe('room');
  await waitFor(() => chs[0].subscriptionCount === 2 && chs[1].subscriptionCount === 2,
    5000, 'A told 2 when B\'s left');
  const b2 = await cluster.client(B);
  const last = await subscribe(b2, 'room');
  await waitFor(() => [chs[0], chs[1], last].every((ch) => ch.subscriptionCount === 3),
    5000, 'A and B told 3 again');
});

test('presence_channels_get_none_across_nodes', async () => {
  const m1 = await cluster.client(A, { user: { user_id: 'p1' } });
  const m2 = await cluster.client(B, { user: { user_id: 'p2' } });
  await subscribe(m1, 'presence-room');
  await subscribe(m2, 'presence-room');
  const late = await cluster.client(B);
  const ch = await subscribe(late, 'marker');
  await waitFor(() => ch.subscriptionCount === 1, 5000, 'marker counted');
  const lateA = await cluster.client(A);
  const chA = await subscribe(lateA, 'marker-a');
  await waitFor(() => chA.subscriptionCount === 1, 5000, 'marker on A counted');
  assert.deepEqual(counts(m1, 'presence-room'), []);
  assert.deepEqual(counts(m2, 'presence-room'), []);
});

test('over_100_subscribers_on_two_nodes_the_last_count_arrives_on_both', async () => {
  const wa = await cluster.client(A);
  const wb = await cluster.client(B);
  const cha = await subscribe(wa, 'crowd');
  const chb = await subscribe(wb, 'crowd');
  const N = 120;
  for (let i = 0; i < N; i++) {
    const raw = await connectRaw(i % 2 ? A : B);
    raws.push(raw);
    raw.send({ event: 'pusher:subscribe', data: { channel: 'crowd' } });
  }
  const total = N + 2;
  await waitFor(() => cha.subscriptionCount === total && chb.subscriptionCount === total,
    15000, `count ${total} on A and B`);
  for (const raw of raws.slice(-10)) {
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'crowd' } });
  }
  await waitFor(() => cha.subscriptionCount === total - 10 &&
    chb.subscriptionCount === total - 10, 15000, `count ${total - 10} on A and B`);
  const seen = counts(wa, 'crowd');
  assert.ok(seen.length < N + 10, `${seen.length} events for ${N + 10} changes`);
  assert.deepEqual(counts(wb, 'crowd').slice(-1), seen.slice(-1));
});
