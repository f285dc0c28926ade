'use strict';
// Issue 13, acceptance 1, with real processes: one sno-relay, 20 sno-agents
// of account acme (hosts f01..f20) and 2 of account other (o1, o2), all on
// loopback. alice (acme) subscribes to private-fleet-acme through the
// dashboard's /api/v1/pusher/auth: every acme host starts streaming, one
// `summary` a second lists the 20 hosts with rising seq, the history
// endpoint returns them, and after the unsubscribe every host stops within
// grace + 2 s. mallory (other) is refused private-fleet-acme (403) and no
// acme host streams; her own fleet starts only her own hosts. The tests run
// in order and share the relay and the agents.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { bound, sleep, waitFor } = require('./lib/wait');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

const N = 20;
const GRACE_S = 3;
const FLEET = 'private-fleet-acme';
const acme = [];
const other = [];
let relay, alice, mallory;
const agents = [];
const clients = [];

function diag() {
  const tail = (s) => s.split('\n').slice(-40).join('\n');
  return `\n--- relay stderr (tail) ---\n${relay && tail(relay.logs())}`;
}

async function hostRows(cookie) {
  const r = await sno.api(relay, 'GET', '/api/v1/hosts', { cookie });
  assert.strictEqual(r.status, 200, `GET /api/v1/hosts: ${r.status} ${r.body}`);
  return new Map(r.json.hosts.map((h) => [h.id, h]));
}

function summaries(c, ch = FLEET) {
  return messages(c, 'summary', ch).map((m) => ({
    ...(typeof m.data === 'string' ? JSON.parse(m.data) : m.data), _at: m.at }));
}

// Polls the hosts list until no last_seq of ids has moved for 2.5 s
// (bounded by limitMs); returns {seqs, quietFor}.
async function waitQuiet(cookie, ids, limitMs) {
  const t0 = Date.now();
  let changedAt = t0;
  let rows = await hostRows(cookie);
  let last = JSON.stringify(ids.map((id) => rows.get(id).last_seq));
  while (Date.now() - t0 < limitMs && Date.now() - changedAt < 2500) {
    await sleep(200); // the poll interval of the bounded loop
    rows = await hostRows(cookie);
    const now = JSON.stringify(ids.map((id) => rows.get(id).last_seq));
    if (now !== last) {
      last = now;
      changedAt = Date.now();
    }
  }
  return { rows, quietFor: Date.now() - changedAt };
}

before(async () => {
  for (let i = 1; i <= N; i++) acme.push(sno.newHost(`f${String(i).padStart(2, '0')}`, 'acme'));
  other.push(sno.newHost('o1', 'other'), sno.newHost('o2', 'other'));
  relay = await sno.startSnoRelay([...acme, ...other],
    { relay: { session_grace_s: GRACE_S } });
  // Started in parallel: 22 processes, each at most one check-in at a time.
  agents.push(...await Promise.all([...acme, ...other].map((h) =>
    sno.startAgent(relay.port, h))));
  const a = await sno.login(relay, 'alice', 'alice-pw');
  assert.strictEqual(a.status, 200, `alice login: ${a.status} ${a.body}`);
  alice = a.cookie;
  const m = await sno.login(relay, 'mallory', 'mallory-pw');
  assert.strictEqual(m.status, 200, `mallory login: ${m.status} ${m.body}`);
  mallory = m.cookie;
  await waitFor(async () => [...(await hostRows(alice)).values()].every((h) => h.online),
    10000, 'all 20 acme hosts to check in');
});

after(async () => {
  disconnectAll(clients);
  await Promise.all(agents.map((a) => sno.stopDaemon(a)));
  if (relay) await relay.stop();
});

test('fleet_subscription_starts_all_20_hosts', async () => {
  const before0 = await hostRows(alice);
  for (const h of acme) {
    assert.strictEqual(before0.get(h.name).last_seq, 0,
      `${h.name} streamed before anyone watched`);
  }
  const c = await sno.connectDashboardPusher(relay, alice);
  clients.push(c);
  await subscribe(c, FLEET);
  const ok = messages(c, 'pusher_internal:subscription_succeeded', FLEET)[0];
  assert.ok(ok, `subscription failed: ${JSON.stringify(c.authAnswers)}`);
  // All 20 have posted a sample: the state; its time is printed, the bound
  // is generous for ASan on busy cores (the figure is what acceptance reads).
  await waitFor(async () => {
    const rows = await hostRows(alice);
    return acme.every((h) => rows.get(h.name).last_seq > 0);
  }, 3000, 'all 20 hosts to post a sample').catch((e) => assert.fail(`${e.message}${diag()}`));
  const ms = Date.now() - ok.at;
  console.log(`# fleet: all ${N} hosts streaming ${ms} ms after subscription_succeeded`);
  const rows = await hostRows(alice);
  for (const h of acme) assert.strictEqual(rows.get(h.name).streaming, true, h.name);
  for (const h of other) {
    assert.strictEqual(rows.has(h.name), false, 'alice sees only acme hosts');
  }
});

test('one_summary_a_second_with_20_hosts_and_rising_seq', async () => {
  const c = clients[0];
  assert.ok(c, 'needs the subscriber of the previous test');
  const from = summaries(c).length;
  await waitFor(() => summaries(c).length >= from + 4, 8000, '4 more summaries')
    .catch((e) => assert.fail(`${e.message}: got ${summaries(c).length - from}${diag()}`));
  const all = summaries(c);
  const s = all.slice(from);
  for (let i = 1; i < all.length; i++) {
    const d = all[i].ts_ms - all[i - 1].ts_ms;
    // One per second per fleet: never two within the same second.
    assert.ok(d >= 900, `summaries ${d} ms apart (ts_ms ${all[i - 1].ts_ms}, ${all[i].ts_ms})`);
  }
  const ids = acme.map((h) => h.name).sort();
  for (const x of s) {
    assert.deepStrictEqual(x.hosts.map((h) => h.id).sort(), ids);
    for (const h of x.hosts) {
      assert.strictEqual(h.online, true, JSON.stringify(h));
      assert.notStrictEqual(h.streaming, false, JSON.stringify(h));
      assert.ok(Number.isInteger(h.seq) && h.seq > 0, JSON.stringify(h));
      assert.ok(typeof h.cpu === 'number' && h.cpu >= 0 && h.cpu <= 100, JSON.stringify(h));
      assert.ok(h.mem_total > 0 && h.mem_used > 0 && h.mem_used <= h.mem_total,
        JSON.stringify(h));
      assert.ok(typeof h.load1 === 'number' && typeof h.net_rx === 'number' &&
        typeof h.net_tx === 'number', JSON.stringify(h));
      assert.ok(!('disk_util' in h) || (h.disk_util >= 0 && h.disk_util <= 100),
        JSON.stringify(h));
      assert.ok(h.top && typeof h.top.name === 'string' && h.top.name.length > 0 &&
        typeof h.top.cpu === 'number', JSON.stringify(h));
    }
  }
  const first = new Map(s[0].hosts.map((h) => [h.id, h.seq]));
  const last = new Map(s[s.length - 1].hosts.map((h) => [h.id, h.seq]));
  for (const id of ids) {
    assert.ok(last.get(id) > first.get(id), `${id}: seq ${first.get(id)} -> ${last.get(id)} ` +
      `over ${s.length} summaries`);
  }
  for (let i = 1; i < s.length; i++) {
    for (const h of s[i].hosts) {
      const prev = s[i - 1].hosts.find((p) => p.id === h.id);
      assert.ok(h.seq >= prev.seq, `${h.id}: seq went back ${prev.seq} -> ${h.seq}`);
    }
  }
  const size = messages(c, 'summary', FLEET).slice(-1)[0];
  console.log(`# fleet: summary of ${N} hosts is ${JSON.stringify(size.data).length} bytes`);
});

test('history_gives_the_last_minute_of_summaries_of_the_users_account', async () => {
  const r = await sno.api(relay, 'GET', '/api/v1/fleet/history?seconds=60', { cookie: alice });
  assert.strictEqual(r.status, 200, `${r.status} ${r.body}`);
  assert.strictEqual(r.json.account, 'acme');
  const hs = r.json.summaries;
  assert.ok(hs.length >= 4, `only ${hs.length} summaries in the history`);
  for (let i = 1; i < hs.length; i++) assert.ok(hs[i].ts_ms > hs[i - 1].ts_ms);
  for (const x of hs) assert.strictEqual(x.hosts.length, N);
  assert.ok(hs[hs.length - 1].ts_ms >= Date.now() - 5000, 'the history ends now');
  const short = await sno.api(relay, 'GET', '/api/v1/fleet/history?seconds=2', { cookie: alice });
  assert.strictEqual(short.status, 200);
  assert.ok(short.json.summaries.length <= 3 && short.json.summaries.length >= 1,
    `seconds=2 gave ${short.json.summaries.length}`);
  for (const bad of ['0', '61', 'x', '']) {
    const b = await sno.api(relay, 'GET', `/api/v1/fleet/history?seconds=${bad}`,
      { cookie: alice });
    assert.strictEqual(b.status, 400, `seconds=${bad}: ${b.status} ${b.body}`);
  }
  const anon = await sno.api(relay, 'GET', '/api/v1/fleet/history');
  assert.strictEqual(anon.status, 401);
  // mallory's account has not streamed: her history holds nothing of acme.
  const m = await sno.api(relay, 'GET', '/api/v1/fleet/history', { cookie: mallory });
  assert.strictEqual(m.status, 200);
  assert.strictEqual(m.json.account, 'other');
  for (const x of m.json.summaries) {
    assert.ok(x.hosts.every((h) => h.id === 'o1' || h.id === 'o2'), JSON.stringify(x));
  }
});

test('unsubscribe_stops_all_20_within_grace_plus_2_s', async () => {
  const c = clients[0];
  assert.ok(c, 'needs the subscriber of the first test');
  const t0 = Date.now();
  c.unsubscribe(FLEET);
  const ids = acme.map((h) => h.name);
  const { rows, quietFor } = await waitQuiet(alice, ids, (GRACE_S + 2) * 1000 + bound(6000));
  assert.ok(quietFor >= 2000, `samples still flowing ${Date.now() - t0} ms after the ` +
    `unsubscribe${diag()}`);
  let latest = 0;
  for (const id of ids) {
    assert.strictEqual(rows.get(id).streaming, false, `${id}: ${JSON.stringify(rows.get(id))}`);
    const h = await sno.api(relay, 'GET', `/api/v1/hosts/${id}/history?since=0`,
      { cookie: alice });
    const last = h.json.samples[h.json.samples.length - 1];
    latest = Math.max(latest, last.relay_ms);
  }
  console.log(`# fleet: last sample ${latest - t0} ms after the unsubscribe (grace ${GRACE_S} s)`);
  assert.ok(latest - t0 <= (GRACE_S + 2) * 1000,
    `a host's last sample reached the relay ${latest - t0} ms after the unsubscribe${diag()}`);
  c.disconnect();
});

test('another_account_is_refused_the_fleet_and_starts_none_of_its_hosts', async () => {
  const direct = await sno.api(relay, 'POST', '/api/v1/pusher/auth', { cookie: mallory,
    form: { socket_id: '1234.5678', channel_name: FLEET } });
  assert.strictEqual(direct.status, 403, `${direct.status} ${direct.body}`);
  const c = await sno.connectDashboardPusher(relay, mallory);
  clients.push(c);
  c.subscribe(FLEET);
  await waitFor(() => c.authAnswers.some((a) => a.channel === FLEET), 3000,
    'the answer to mallory\'s auth request');
  assert.ok(c.authAnswers.some((a) => a.channel === FLEET && a.status === 403),
    JSON.stringify(c.authAnswers));
  assert.strictEqual(messages(c, 'pusher_internal:subscription_succeeded', FLEET).length, 0);
  // Her own fleet works and starts her own hosts only.
  await subscribe(c, 'private-fleet-other');
  assert.ok(messages(c, 'pusher_internal:subscription_succeeded', 'private-fleet-other')[0],
    JSON.stringify(c.authAnswers));
  const base = await hostRows(alice);
  const baseOther = await hostRows(mallory);
  await waitFor(async () => {
    const rows = await hostRows(mallory);
    return other.every((h) => rows.get(h.name).last_seq > baseOther.get(h.name).last_seq);
  }, 4000, 'o1 and o2 to stream').catch((e) => assert.fail(`${e.message}${diag()}`));
  await waitFor(() => summaries(c, 'private-fleet-other').length >= 2, 4000,
    'summaries of the other fleet');
  // Fixed: the acme agents post every 1 s when streaming, and o1/o2 have
  // already posted twice in this window, so 2 s more shows any acme stream.
  await sleep(2000);
  const rows = await hostRows(alice);
  for (const h of acme) {
    assert.strictEqual(rows.get(h.name).last_seq, base.get(h.name).last_seq,
      `${h.name} streamed after mallory's refused subscription`);
    assert.strictEqual(rows.get(h.name).streaming, false, h.name);
  }
  for (const x of summaries(c, 'private-fleet-other')) {
    assert.deepStrictEqual(x.hosts.map((h) => h.id).sort(), ['o1', 'o2']);
  }
  c.disconnect();
});
