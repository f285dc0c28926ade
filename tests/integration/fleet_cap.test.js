'use strict';
// Issue 13: the fleet under the session cap. With max_session_s = 10 the
// host sessions a fleet viewer started stop at the cap although the viewer
// stays; the summary says so (online, "streaming": false) and the hosts'
// seq stands still; subscribing again (the page's Continue) starts them
// again. Two real agents of acme, one relay, alice through the dashboard's
// auth endpoint.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { waitFor } = require('./lib/wait');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

const FLEET = 'private-fleet-acme';
let relay, alice;
const agents = [];
const clients = [];
const hosts = [];

function summaries(c) {
  return messages(c, 'summary', FLEET).map((m) => ({
    ...(typeof m.data === 'string' ? JSON.parse(m.data) : m.data), _at: m.at }));
}

before(async () => {
  hosts.push(sno.newHost('c1', 'acme'), sno.newHost('c2', 'acme'));
  relay = await sno.startSnoRelay(hosts, { relay: { max_session_s: 10, session_grace_s: 1 } });
  agents.push(...await Promise.all(hosts.map((h) => sno.startAgent(relay.port, h))));
  const a = await sno.login(relay, 'alice', 'alice-pw');
  assert.strictEqual(a.status, 200, `alice login: ${a.status} ${a.body}`);
  alice = a.cookie;
});

after(async () => {
  disconnectAll(clients);
  await Promise.all(agents.map((a) => sno.stopDaemon(a)));
  if (relay) await relay.stop();
});

test('fleet_sessions_stop_at_the_cap_and_a_new_subscription_restarts_them', async () => {
  const c = await sno.connectDashboardPusher(relay, alice);
  clients.push(c);
  await subscribe(c, FLEET);
  await waitFor(() => summaries(c).some((s) => s.hosts.length === 2 &&
    s.hosts.every((h) => h.seq > 0 && h.streaming !== false)), 6000, 'both hosts streaming');
  // The cap (10 s after the subscription) stops both though alice stays.
  const capped = await waitFor(() => summaries(c).find((s) =>
    s.hosts.every((h) => h.online && h.streaming === false)), 20000,
  'a summary with both hosts online and stopped at the cap').catch((e) =>
    assert.fail(`${e.message}; last: ${JSON.stringify(summaries(c).slice(-1))}`));
  const stopped = new Map(capped.hosts.map((h) => [h.id, h.seq]));
  // The page's Continue: unsubscribe, subscribe again.
  c.unsubscribe(FLEET);
  const n = messages(c, 'pusher_internal:subscription_succeeded', FLEET).length;
  c.subscribe(FLEET);
  await waitFor(() => messages(c, 'pusher_internal:subscription_succeeded', FLEET).length > n,
    3000, 'the second subscription');
  await waitFor(() => summaries(c).some((s) => s.hosts.every((h) =>
    h.streaming !== false && h.seq > stopped.get(h.id))), 8000,
  'both hosts streaming again with new samples').catch((e) =>
    assert.fail(`${e.message}; last: ${JSON.stringify(summaries(c).slice(-1))}`));
});
