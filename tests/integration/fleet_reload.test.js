'use strict';
// Issue 13 with issue 10's reload: one sno-relay with hosts r1, r2, r3 of
// account acme (real sno-agents for r1 and r2; r3 never checks in) and one
// fleet viewer, alice on private-fleet-acme. The config is edited (r2
// removed, r4 added) and SIGHUP sent: the next summaries list r1, r3, r4
// and no r2, the viewer's connection and subscription are the same ones
// (no new subscribe, no close), r4's agent streams because the fleet is
// watched, and r1 keeps streaming. The tests run in order and share it.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const { waitFor } = require('./lib/wait');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

const FLEET = 'private-fleet-acme';
let relay, alice, viewer;
const hosts = {};
const agents = {};
const clients = [];

function diag() {
  const tail = (s) => s.split('\n').slice(-40).join('\n');
  return `\n--- relay stderr (tail) ---\n${relay && tail(relay.logs())}`;
}

function summaries(c) {
  return messages(c, 'summary', FLEET).map((m) =>
    (typeof m.data === 'string' ? JSON.parse(m.data) : m.data));
}

const ids = (s) => s.hosts.map((h) => h.id).sort().join(',');
const reloads = () => (relay.logs().match(/relay reloaded /g) || []).length;

before(async () => {
  for (const n of ['r1', 'r2', 'r3', 'r4']) hosts[n] = sno.newHost(n, 'acme');
  relay = await sno.startSnoRelay([hosts.r1, hosts.r2, hosts.r3]);
  agents.r1 = await sno.startAgent(relay.port, hosts.r1);
  agents.r2 = await sno.startAgent(relay.port, hosts.r2);
  const a = await sno.login(relay, 'alice', 'alice-pw');
  assert.strictEqual(a.status, 200, `alice login: ${a.status} ${a.body}`);
  alice = a.cookie;
});

after(async () => {
  disconnectAll(clients);
  await Promise.all(Object.values(agents).map((x) => sno.stopDaemon(x)));
  if (relay) await relay.stop();
});

test('fleet_viewer_sees_the_first_host_set', async () => {
  viewer = await sno.connectDashboardPusher(relay, alice);
  clients.push(viewer);
  await subscribe(viewer, FLEET);
  assert.ok(messages(viewer, 'pusher_internal:subscription_succeeded', FLEET)[0],
    `subscription failed: ${JSON.stringify(viewer.authAnswers)}`);
  await waitFor(() => summaries(viewer).some((s) => ids(s) === 'r1,r2,r3' &&
    s.hosts.filter((h) => h.online && h.seq > 0).length === 2), 10000,
  'a summary with r1 and r2 streaming').catch((e) => assert.fail(`${e.message}${diag()}`));
});

test('sighup_with_hosts_added_and_removed_changes_the_summary_not_the_viewer', async () => {
  const subs = messages(viewer, 'pusher_internal:subscription_succeeded', FLEET).length;
  const socket = viewer.connection.socket_id;
  await sno.stopDaemon(agents.r2);
  delete agents.r2;
  const conf = fs.readFileSync(relay.configFile, 'utf8')
    .replace(/\n\[host r2\]\naccount = acme\nkey = [0-9a-f]+\n?/, '\n')
    + `\n[host r4]\naccount = acme\nkey = ${hosts.r4.key}\n`;
  assert.ok(!conf.includes('[host r2]'), 'r2 removed from the config');
  fs.writeFileSync(relay.configFile, conf);
  const n0 = reloads();
  process.kill(relay.pid, 'SIGHUP');
  await waitFor(() => reloads() > n0, 15000, 'the reload').catch((e) => assert.fail(`${e.message}${diag()}`));
  assert.match(relay.logs(), /relay reloaded .*hosts=3 added=1 removed=1/, diag());
  const from = summaries(viewer).length;
  agents.r4 = await sno.startAgent(relay.port, hosts.r4);
  // The same connection, no new subscribe: summaries with the new set, r4
  // streaming (the fleet is watched) and r1 still streaming.
  let r1seq = 0;
  await waitFor(() => {
    const s = summaries(viewer).slice(from).filter((x) => ids(x) === 'r1,r3,r4');
    const r4 = s.map((x) => x.hosts.find((h) => h.id === 'r4'));
    const r1 = s.map((x) => x.hosts.find((h) => h.id === 'r1'));
    if (r1.length) r1seq = r1[r1.length - 1].seq;
    return r4.some((h) => h.online && h.seq > 0) && r1.length >= 2 && r1[r1.length - 1].seq > r1[0].seq;
  }, 15000, 'summaries listing r1, r3, r4 with r4 and r1 streaming')
    .catch((e) => assert.fail(`${e.message}: last ${JSON.stringify(summaries(viewer).slice(-1))}${diag()}`));
  assert.ok(r1seq > 0);
  const after0 = summaries(viewer).slice(from);
  assert.ok(after0.slice(-3).every((s) => !s.hosts.some((h) => h.id === 'r2')),
    'r2 is gone from the summaries after the reload');
  assert.strictEqual(messages(viewer, 'pusher_internal:subscription_succeeded', FLEET).length, subs,
    'the viewer did not subscribe again');
  assert.strictEqual(viewer.connection.state, 'connected');
  assert.strictEqual(viewer.connection.socket_id, socket, 'the viewer kept its connection (no reconnect)');
  const rows = await sno.api(relay, 'GET', '/api/v1/hosts', { cookie: alice });
  assert.strictEqual(rows.status, 200);
  assert.deepStrictEqual(rows.json.hosts.map((h) => h.id).sort(), ['r1', 'r3', 'r4']);
});
