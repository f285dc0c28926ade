'use strict';
// Issue 12 ("Pusher features done once": subscription counting), on one
// node: with subscription_count = yes in an app, the subscribers of a public
// or private channel get pusher_internal:subscription_count (pusher-js:
// channel.subscriptionCount) when the count changed; not on presence
// channels, not for an app without the option; over 100 subscribers the
// events are coalesced and the last count still arrives.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, subscribe, messages,
  disconnectAll, waitFor, DEMO_APP,
} = require('./lib');

const EV = 'pusher_internal:subscription_count';
let relay;
const clients = [];
const raws = [];

before(async () => {
  relay = await startRelay({
    apps: [
      { ...DEMO_APP, subscription_count: 'yes' },
      { name: 'plain', id: '2', key: 'plain-key', secret: 'plain-secret' },
    ],
  });
});

after(async () => {
  disconnectAll(clients);
  for (const r of raws) r.close();
  await stopRelay(relay);
});

async function client(opts) {
  const c = await connectPusher(relay, opts);
  clients.push(c);
  return c;
}

function counts(c, ch) {
  return messages(c, EV, ch).map((m) => m.data.subscription_count);
}

test('subscribers_are_told_the_count_as_it_changes', async () => {
  const cs = [await client(), await client(), await client()];
  const chs = [];
  for (const c of cs) chs.push(await subscribe(c, 'room'));
  await waitFor(() => chs.every((ch) => ch.subscriptionCount === 3), 5000,
    'every subscriber told 3');
  cs[2].unsubscribe('room');
  await waitFor(() => chs[0].subscriptionCount === 2 && chs[1].subscriptionCount === 2,
    5000, 'the others told 2');
  const priv = await subscribe(cs[0], 'private-room');
  await waitFor(() => priv.subscriptionCount === 1, 5000, 'private channel counted');
});

test('presence_channels_and_apps_without_the_option_get_none', async () => {
  const member = await client({ user: { user_id: 'm1' } });
  await subscribe(member, 'presence-room');
  const other = await client({ app: relay.apps[1] });
  await subscribe(other, 'room');
  // Subscribed after both: its count comes in the same tick or a later one.
  const late = await client();
  const ch = await subscribe(late, 'marker');
  await waitFor(() => ch.subscriptionCount === 1, 5000, 'marker counted');
  assert.deepEqual(counts(member, 'presence-room'), []);
  assert.deepEqual(counts(other, 'room'), []);
});

test('over_100_subscribers_events_are_coalesced_and_the_last_count_arrives', async () => {
  const watcher = await client();
  const ch = await subscribe(watcher, 'crowd');
  const N = 120;
  for (let i = 0; i < N; i++) {
    const raw = await connectRaw(relay);
    raws.push(raw);
    raw.send({ event: 'pusher:subscribe', data: { channel: 'crowd' } });
  }
  await waitFor(() => ch.subscriptionCount === N + 1, 15000, `count ${N + 1}`);
  for (const raw of raws.slice(-10)) {
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'crowd' } });
  }
  await waitFor(() => ch.subscriptionCount === N + 1 - 10, 15000, `count ${N + 1 - 10}`);
  const seen = counts(watcher, 'crowd');
  assert.ok(seen.length < N + 10, `${seen.length} events for ${N + 10} changes`);
});
