'use strict';
// Issue 9, against a real sno-relay with hosts and users: sample integers
// round-trip exactly and no value wedges a host (7), duplicate keys in
// samples and dashboard bodies are refused (14), and the login throttle
// holds under concurrency (8). After every case the relay answers /healthz.
// Login floods come from other loopback addresses (127.0.0.x), bounded in
// count; every request has a timeout.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { waitFor } = require('./lib/wait');
const { request } = require('./lib/http');
const { subscribe, disconnectAll } = require('./lib/clients');
const sno = require('./lib/sno');

let H, relay;
const clients = [];

before(async () => {
  H = sno.newHost('H', 'acme');
  relay = await sno.startSnoRelay([H]);
});

after(async () => {
  disconnectAll(clients);
  if (relay) await relay.stop();
});

afterEach(async () => {
  assert.ok(relay.alive(), `relay died\n${relay.logs()}`);
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
});

let seq = Date.now();
function nextSeq() {
  seq += 1;
  return seq;
}

// The sample text of makeSample with fields replaced by raw JSON text.
function sampleText(fields = {}) {
  let t = JSON.stringify(sno.makeSample('H', nextSeq()));
  for (const [k, v] of Object.entries(fields)) {
    t = t.replace(new RegExp(`"${k}":[^,}]*`), `"${k}":${v}`);
  }
  return t;
}

function post(text) {
  return sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples', `[${text}]`);
}

// A sample with a fresh seq is accepted and acknowledged.
async function hostStillWorks() {
  const s = nextSeq();
  const ok = await post(JSON.stringify(sno.makeSample('H', s)));
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.acked_seq, s, `the host is wedged: ${ok.body}`);
}

// ---- 7: integers round-trip; no value wedges a host ----

test('seq_of_2_53_is_refused_and_the_host_keeps_working', async () => {
  for (const v of ['9007199254740992', '9007199254740993', '1e16', '18446744073709551616']) {
    const r = await post(sampleText({ seq: v }));
    assert.equal(r.status, 400, `seq ${v}: ${r.status} ${r.body}`);
    assert.match(r.json.error, /seq/);
    await hostStillWorks();
  }
});

test('seq_far_ahead_of_the_clock_is_refused', async () => {
  // In range, but a host would never reach it: accepting it would make
  // every later sample a "duplicate" until a restart.
  const r = await post(sampleText({ seq: '9007199254740991' }));
  assert.equal(r.status, 400, r.body);
  assert.match(r.json.error, /seq/);
  await hostStillWorks();
});

test('sample_integers_reach_viewers_exactly', async () => {
  const c = await sno.connectMetricsPusher(relay);
  clients.push(c);
  await subscribe(c, 'private-host-H');
  const s = nextSeq();
  const text = sampleText({ ts_ms: '9007199254740991', 'total': '9007199254740001' })
    .replace(/"seq":\d+/, `"seq":${s}`);
  const r = await post(text);
  assert.equal(r.status, 200, r.body);
  const m = await waitFor(() => sno.samplesOf(c, 'private-host-H').find((x) => x.seq === s),
    5000, `sample ${s} on private-host-H`);
  assert.equal(m.ts_ms, 9007199254740991);
  assert.equal(m.mem.total, 9007199254740001);
  c.disconnect();
});

test('sample_with_relay_ms_is_refused', async () => {
  const r = await post(sampleText().replace('{', '{"relay_ms":1,'));
  assert.equal(r.status, 400, r.body);
  await hostStillWorks();
});

// ---- 14: duplicate keys ----

test('sample_with_duplicate_keys_is_refused', async () => {
  for (const t of [
    sampleText().replace(/\}$/, ',"host":"G"}'),
    sampleText().replace(/\}$/, `,"seq":${seq + 100}}`),
    sampleText().replace('"n":1', '"n":1,"n":2'),
  ]) {
    const r = await post(t);
    assert.equal(r.status, 400, `${t}: ${r.status} ${r.body}`);
    assert.match(r.json.error, /duplicate/i);
  }
  await hostStillWorks();
});

test('login_body_with_duplicate_keys_is_400', async () => {
  const r = await request(relay.port, 'POST', '/api/v1/login',
    '{"user":"alice","password":"wrong","password":"alice-pw"}', { origin: relay.origin });
  assert.equal(r.status, 400, r.body);
});

test('checkin_body_with_duplicate_keys_is_400', async () => {
  const body = (extra) => `{"host":"H","version":"0.0.0","last_seq":1${extra}}`;
  const dup = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/checkin',
    body(',"host":"G"'));
  assert.equal(dup.status, 400, dup.body);
  assert.match(dup.json.error, /duplicate/);
  // The body the agent sends is fine (a viewer makes the answer immediate).
  const c = await sno.connectMetricsPusher(relay);
  clients.push(c);
  await subscribe(c, 'private-host-H');
  const ok = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/checkin', body(''));
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.stream, true);
  c.disconnect();
});

// ---- attack findings F5 and F6: agent bodies and the replay guard ----

test('agent_bodies_with_bytes_after_the_json_are_400', async () => {
  const body = '{"host":"H","version":"0.0.0","last_seq":1}';
  for (const tail of [' x', '{}', '\x01']) {
    const r = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/checkin', body + tail);
    assert.equal(r.status, 400, `check-in + ${JSON.stringify(tail)}: ${r.status} ${r.body}`);
    assert.match(r.json.error, /not one JSON object/);
  }
  for (const tail of [' x', '[]', '\u0000']) {
    const r = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples',
      `[${sampleText()}]${tail}`);
    assert.equal(r.status, 400, `samples + ${JSON.stringify(tail)}: ${r.status} ${r.body}`);
  }
  await hostStillWorks();
});

test('a_request_stamped_in_the_future_locks_nobody_out', async () => {
  // An agent whose clock ran 299 s ahead (then stepped back by NTP, and
  // the agent restarted) is taken, and so is everything stamped now.
  const text = `[${JSON.stringify(sno.makeSample('H', nextSeq()))}]`;
  const ahead = sno.agentHeaders('H', H.key, '/agent/v1/samples', text, Date.now() + 299000);
  const future = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples', text,
    { headers: ahead });
  assert.equal(future.status, 200, future.body);
  const t0 = Date.now(); // later than the relay's start, the only floor
  await hostStillWorks();
  // Out of order but new: taken. Exactly the same request again: refused.
  const older = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples',
    `[${sampleText()}]`, { ts: t0 - 1 });
  assert.equal(older.status, 200, older.body);
  const again = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples', text,
    { headers: ahead });
  assert.equal(again.status, 401, again.body);
  assert.match(again.json.error, /replay/);
  await hostStillWorks();
});

test('unknown_host_and_wrong_key_get_the_same_answer', async () => {
  const text = `[${JSON.stringify(sno.makeSample('nope', nextSeq()))}]`;
  const unknown = await sno.agentPost(relay.port, 'nope', H.key, '/agent/v1/samples', text);
  const wrong = await sno.agentPost(relay.port, 'H', 'cd'.repeat(32), '/agent/v1/samples', text);
  assert.equal(unknown.status, 401, unknown.body);
  assert.equal(wrong.status, unknown.status);
  assert.equal(wrong.body, unknown.body);
  assert.match(wrong.json.error, /key_file/);
  // The relay's log says which it was.
  await waitFor(() => /agent refused host="nope".*unknown host/.test(relay.logs()) &&
    /agent refused host="H".*bad signature/.test(relay.logs()), 3000, 'both refusals logged');
  const late = await sno.agentPost(relay.port, 'nope', H.key, '/agent/v1/samples', text,
    { ts: Date.now() - 400000 });
  const lateH = await sno.agentPost(relay.port, 'H', H.key, '/agent/v1/samples', text,
    { ts: Date.now() - 400000 });
  assert.equal(late.status, 401, late.body);
  assert.match(late.json.error, /timestamp/);
  assert.match(lateH.json.error, /timestamp/);
});

// ---- 8: the login throttle holds under concurrency ----

test('sixty_concurrent_wrong_logins_from_one_address_get_at_most_ten_checks', async () => {
  const from = '127.0.0.21';
  const rs = await Promise.all(Array.from({ length: 60 }, (_, i) =>
    sno.loginFrom(relay, from, `nobody-${i}`, 'wrong')));
  const checked = rs.filter((r) => r.status === 401).length;
  for (const r of rs) assert.ok([401, 429, 503].includes(r.status), `${r.status} ${r.body}`);
  assert.ok(checked <= 10, `${checked} of 60 concurrent wrong logins got a password check`);
  assert.ok(rs.filter((r) => r.status === 429).length >= 40, rs.map((r) => r.status).join(','));
});

test('concurrent_guesses_for_one_user_from_forty_addresses_are_bounded', async () => {
  const addrs = Array.from({ length: 40 }, (_, i) => `127.0.1.${i + 1}`);
  const rs = await Promise.all(addrs.flatMap((a) => [0, 1, 2].map((k) =>
    sno.loginFrom(relay, a, 'mallory', `guess-${a}-${k}`))));
  const checked = rs.filter((r) => r.status === 401).length;
  for (const r of rs) assert.ok([401, 429, 503].includes(r.status), `${r.status} ${r.body}`);
  assert.ok(checked <= 12, `${checked} of 120 concurrent guesses for one user got a check`);
  // The user can log in once the guessing stops (never locked everywhere).
  const ok = await waitFor(async () => {
    const l = await sno.loginFrom(relay, '127.0.2.1', 'mallory', 'mallory-pw');
    return l.status === 200 ? l : null;
  }, 30000, 'mallory to log in after the flood');
  assert.equal(ok.status, 200);
});

test('a_login_flood_is_bounded_globally_and_the_relay_keeps_answering', async () => {
  // 48 addresses, one unknown user each: no per-user or per-address limit
  // applies, so only the global bound keeps the queue of checks short.
  const flood = Promise.all(Array.from({ length: 48 }, (_, i) =>
    sno.loginFrom(relay, `127.0.3.${i + 1}`, `flood-${i}`, 'wrong')));
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
  const rs = await flood;
  const checked = rs.filter((r) => r.status === 401).length;
  const busy = rs.filter((r) => r.status === 503);
  for (const r of rs) assert.ok([401, 503].includes(r.status), `${r.status} ${r.body}`);
  assert.ok(busy.length >= 1 && checked < 48,
    `${checked} of 48 concurrent logins were queued for a check, ${busy.length} answered 503`);
  for (const r of busy) assert.ok(r.headers['retry-after'], 'a 503 without Retry-After');
});
