'use strict';
// Issue 12 (docs/scaleout.md "Realtime sessions, samples, history and
// logins"), with real processes: one redis-server, two sno-relay nodes A
// and B with the same hosts, and a real sno-agent whose relay_url is A, so
// A holds its check-in. A viewer on B starts the agent streaming and gets
// its samples, as A's viewers do, in seq order and once; when the viewers
// leave the agent stops after the grace; a fleet viewer on B starts it too
// and sees its figures; a sample posted to both nodes is
// delivered once; the history is the same from both nodes and after a
// node restarts; failed logins from one address count on both nodes
// together; while Redis is down samples and the dashboard API are
// answered 503 and the agent keeps its samples, sent in order once Redis
// is back; a login made on A works on B (and a logout on B ends it on A). The tests run in order and share the processes.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { bound, waitFor } = require('./lib/wait');
const { subscribe, messages, disconnectAll } = require('./lib/clients');
const { startCluster, ready } = require('./lib/cluster');
const sno = require('./lib/sno');

const CH = 'private-host-H';
const CS = 'private-host-S';
let H, S, cluster, redis, A, B, agent, cookie;
const clients = [];

function diag() {
  return `\n--- A ---\n${A && A.logs()}\n--- B ---\n${B && B.logs()}` +
    `\n--- agent ---\n${agent && agent.stderr}`;
}

async function hostsRow(relay, id = 'H') {
  const r = await sno.api(relay, 'GET', '/api/v1/hosts', { cookie });
  assert.strictEqual(r.status, 200, `GET /api/v1/hosts: ${r.status} ${r.body}`);
  return r.json.hosts.find((h) => h.id === id);
}

async function historyOf(relay, id, since = 0) {
  const r = await sno.api(relay, 'GET', `/api/v1/hosts/${id}/history?since=${since}`,
    { cookie });
  assert.strictEqual(r.status, 200, `history of ${id}: ${r.status} ${r.body}`);
  return r.json.samples;
}

async function viewer(relay, channel) {
  const c = await cluster.metricsClient(relay);
  clients.push(c);
  await subscribe(c, channel);
  assert.ok(messages(c, 'pusher_internal:subscription_succeeded', channel)[0],
    `subscription to ${channel} failed: ${JSON.stringify(c.received)}`);
  return c;
}

function assertRising(seqs, what) {
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(seqs[i] > seqs[i - 1], `${what}: seq ${seqs[i]} after ${seqs[i - 1]} ` +
      `(duplicate or out of order): ${seqs.join(',')}`);
  }
}

before(async () => {
  H = sno.newHost('H', 'acme');
  S = sno.newHost('S', 'acme');
  cluster = await startCluster();
  redis = cluster.redis;
  A = await cluster.snoNode('relay-a', [H, S]);
  B = await cluster.snoNode('relay-b', [H, S]);
  agent = await cluster.agent([A], H);
  const l = await sno.login(A, 'alice', 'alice-pw');
  assert.strictEqual(l.status, 200, `login on A: ${l.status} ${l.body}`);
  cookie = l.cookie;
});

after(() => cluster && cluster.stop());

test('login_made_on_A_is_valid_on_B', async () => {
  const r = await sno.api(B, 'GET', '/api/v1/me', { cookie });
  assert.strictEqual(r.status, 200, `me on B: ${r.status} ${r.body}`);
  assert.strictEqual(r.json.user, 'alice');
  const bad = await sno.api(B, 'GET', '/api/v1/me',
    { cookie: `sno_session=${'0'.repeat(64)}` });
  assert.strictEqual(bad.status, 401, `an unknown token on B: ${bad.status}`);
});

test('checkin_on_A_viewer_on_B_streams_to_viewers_on_both_in_seq_order_once', async () => {
  await waitFor(async () => (await hostsRow(A)).online, 5000, 'H online on A');
  assert.strictEqual((await hostsRow(A)).streaming, false, 'H streams before any viewer');
  const b = await viewer(B, CH);
  const ok = messages(b, 'pusher_internal:subscription_succeeded', CH)[0];
  const first = await waitFor(() => sno.samplesOf(b, CH)[0], 5000, 'the first sample on B')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  const latency = first._at - ok.at;
  assert.ok(latency <= bound(1500), `first sample on B ${latency} ms after the subscribe${diag()}`);
  const a = await viewer(A, CH);
  await waitFor(() => sno.samplesOf(a, CH).length >= 3, 8000, '3 samples on A')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  const lastA = sno.samplesOf(a, CH).at(-1).seq;
  await waitFor(() => sno.samplesOf(b, CH).some((s) => s.seq >= lastA), 5000,
    `B to reach seq ${lastA}`);
  const sa = sno.samplesOf(a, CH).map((s) => s.seq);
  const sb = sno.samplesOf(b, CH).map((s) => s.seq);
  assertRising(sa, 'samples on A');
  assertRising(sb, 'samples on B');
  // What A's viewer saw, B's saw too (B subscribed first).
  for (const s of sa) assert.ok(sb.includes(s), `seq ${s} on A but not on B: ${sb.join(',')}`);
  for (const x of sno.samplesOf(b, CH)) {
    assert.strictEqual(x.host, 'H');
    assert.ok(Number.isInteger(x.relay_ms));
  }
  assert.strictEqual((await hostsRow(B)).streaming, true, 'B says H is not streaming');
  // The agent talks to A only; B knows it is online and its seq.
  await waitFor(async () => {
    const row = await hostsRow(B);
    return row.online && row.last_seq >= lastA;
  }, 5000, 'B to list H online with its last seq');
  assert.strictEqual((await hostsRow(A)).streaming, true, 'A says H is not streaming');
});

test('viewers_leave_agent_stops_after_grace', async () => {
  const idles = () => (agent.stderr.match(/agent idle host=H reason=relay/g) || []).length;
  const idle0 = idles();
  const t0 = Date.now();
  for (const c of clients) c.unsubscribe(CH);
  // grace is 3 s (sno.snoConfig); the watch lease and poll add < 1 s.
  await waitFor(() => idles() > idle0, 3000 + 8000,
    'the agent to go idle').catch((e) => assert.fail(`${e.message}${diag()}`));
  const stoppedAfter = Date.now() - t0;
  assert.ok(stoppedAfter >= 3000, `the agent stopped ${stoppedAfter} ms after the viewers ` +
    `left, before the 3 s grace${diag()}`);
  await waitFor(async () => !(await hostsRow(A)).streaming && !(await hostsRow(B)).streaming,
    5000, 'both nodes to say H stopped');
});

test('fleet_viewer_on_B_starts_the_agent_and_sees_its_figures', async () => {
  const FC = 'private-fleet-acme';
  const idles = () => (agent.stderr.match(/agent idle host=H reason=relay/g) || []).length;
  const s0 = (await hostsRow(A)).last_seq;
  const f = await viewer(B, FC);
  const rowsOfH = () => messages(f, 'summary', FC).map((m) =>
    (typeof m.data === 'string' ? JSON.parse(m.data) : m.data).hosts.find((x) => x.id === 'H'))
    .filter(Boolean);
  // The samples go to A; B's summaries carry the rows A rendered.
  await waitFor(() => rowsOfH().some((x) => x.seq > s0 && x.mem_total > 0), 10000,
    `a summary on B with a sample of H newer than ${s0}`)
    .catch((e) => assert.fail(`${e.message}: ${JSON.stringify(rowsOfH())}${diag()}`));
  const idle0 = idles();
  f.unsubscribe(FC);
  await waitFor(() => idles() > idle0, 3000 + 8000, 'the agent to go idle again')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
});

test('same_sample_posted_to_both_nodes_is_delivered_once', async () => {
  const a = await viewer(A, CS);
  const b = await viewer(B, CS);
  const seq0 = Date.now();
  const post = (relay, seq) => sno.agentPost(relay.port, 'S', S.key, '/agent/v1/samples',
    [sno.makeSample('S', seq)]);
  const r = await Promise.all([post(A, seq0), post(B, seq0)]);
  for (const x of r) {
    assert.strictEqual(x.status, 200, `samples: ${x.status} ${x.body}`);
    assert.strictEqual(x.json.acked_seq, seq0);
  }
  const again = await post(B, seq0);
  assert.strictEqual(again.status, 200);
  const older = await post(A, seq0 - 5);
  assert.strictEqual(older.status, 200);
  assert.strictEqual(older.json.acked_seq, seq0, 'an older seq moved acked_seq back');
  assert.strictEqual((await post(B, seq0 + 1)).status, 200);
  for (const c of [a, b]) {
    await waitFor(() => sno.samplesOf(c, CS).some((s) => s.seq === seq0 + 1), 5000,
      'the barrier sample');
    assert.deepStrictEqual(sno.samplesOf(c, CS).map((s) => s.seq), [seq0, seq0 + 1]);
  }
  // Gone before B restarts: pusher-js would keep retrying B otherwise.
  disconnectAll(clients);
});

test('history_is_the_same_from_both_nodes_and_after_a_restart', async () => {
  const ha = await historyOf(A, 'H');
  const hb = await historyOf(B, 'H');
  assert.ok(ha.length >= 3, `history of H on A: ${ha.length} samples`);
  assert.deepStrictEqual(hb, ha);
  assertRising(ha.map((s) => s.seq), 'history of H');
  const since = ha[1].seq;
  assert.deepStrictEqual(await historyOf(B, 'H', since), ha.slice(2));
  const sa = await historyOf(A, 'S');
  assert.strictEqual(sa.length, 2, `history of S: ${sa.map((s) => s.seq).join(',')}`);
  await B.restart();
  await waitFor(() => ready(B), 5000, 'B ready again');
  // The login lives in Redis: the restarted node still knows it.
  assert.deepStrictEqual(await historyOf(B, 'H'), await historyOf(A, 'H'));
  assert.deepStrictEqual(await historyOf(B, 'S'), sa);
});

test('failed_logins_count_cluster_wide', async () => {
  // From an address of its own, so 127.0.0.1 stays unlocked.
  const from = '127.0.0.7';
  const wrong = (relay) => sno.loginFrom(relay, from, 'mallory', 'wrong');
  // Two checks of one user at a time per node (LOGIN_INFLIGHT_USER).
  for (const round of [[A, A, B, B], [A, A, B, B], [B, B]]) {
    const rs = await Promise.all(round.map(wrong));
    for (const r of rs) assert.strictEqual(r.status, 401, `a wrong password: ${r.status} ${r.body}`);
  }
  // 10 from this address on the two nodes: locked, though B saw only 6.
  const locked = await wrong(B);
  assert.strictEqual(locked.status, 429, `the 11th failure on B: ${locked.status} ${locked.body}`);
  // A, which saw 4, learns the count from Redis (at most one guess late).
  let r;
  await waitFor(async () => (r = await wrong(A)).status === 429, 30000,
    'A to lock the address too');
  assert.strictEqual(r.status, 429);
});

test('redis_down_samples_answered_503_then_resent_in_order_once_it_is_back', async () => {
  const b = await viewer(B, CH);
  await waitFor(() => sno.samplesOf(b, CH).length >= 2, 8000, '2 samples on B before the outage')
    .catch((e) => assert.fail(`${e.message}${diag()}`));
  const downAt = Date.now();
  await redis.stop();
  const r = await sno.agentPost(A.port, 'S', S.key, '/agent/v1/samples',
    [sno.makeSample('S', Date.now())]);
  assert.strictEqual(r.status, 503, `a sample while Redis is down: ${r.status} ${r.body}`);
  assert.strictEqual(r.headers['retry-after'], '1');
  const me = await sno.api(B, 'GET', '/api/v1/me', { cookie });
  assert.strictEqual(me.status, 503, `the dashboard API while Redis is down: ${me.status}`);
  // The agent keeps what it samples meanwhile (it is answered 503).
  await waitFor(() => /agent relay error request=samples status=503/.test(agent.stderr), 8000,
    'the agent to be refused 503').catch((e) => assert.fail(`${e.message}${diag()}`));
  const upAt = Date.now();
  await redis.start(); // empty: Debian's redis-server keeps nothing by default
  await waitFor(async () => (await ready(A)) && (await ready(B)), 8000, 'both nodes ready again');
  // The logins were in the Redis that went away.
  assert.strictEqual((await sno.api(B, 'GET', '/api/v1/me', { cookie })).status, 401);
  const l = await sno.login(A, 'alice', 'alice-pw');
  assert.strictEqual(l.status, 200, `login on A: ${l.status} ${l.body}`);
  cookie = l.cookie;
  // Samples taken during the outage reach Redis, after the restart, in order.
  let hist = [];
  await waitFor(async () => {
    hist = await historyOf(B, 'H');
    return hist.some((x) => x.ts_ms > downAt && x.ts_ms < upAt) &&
      hist.some((x) => x.ts_ms > upAt + 1000) &&
      sno.samplesOf(b, CH).some((x) => x.ts_ms > upAt + 1000);
  }, 25000, 'the outage\'s samples, then live ones, after Redis is back')
    .catch((e) => assert.fail(`${e.message}: ${hist.map((x) => x.seq).join(',')}${diag()}`));
  const hs = hist.map((x) => x.seq);
  for (let i = 1; i < hs.length; i++) {
    assert.strictEqual(hs[i], hs[i - 1] + 1, `history after the outage: ${hs.join(',')}`);
  }
  assertRising(sno.samplesOf(b, CH).map((x) => x.seq), 'samples on B across the outage');
  b.unsubscribe(CH);
});

test('logout_on_B_ends_the_login_on_A', async () => {
  const r = await sno.api(B, 'POST', '/api/v1/logout', { cookie, origin: B.origin });
  assert.strictEqual(r.status, 200, `logout on B: ${r.status} ${r.body}`);
  const me = await sno.api(A, 'GET', '/api/v1/me', { cookie });
  assert.strictEqual(me.status, 401, `me on A after logout on B: ${me.status} ${me.body}`);
});
