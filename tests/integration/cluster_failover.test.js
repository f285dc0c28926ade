'use strict';
// Issue 12 ("Faults that must be survived", a node killed with SIGKILL),
// with real processes: one redis-server and two relay nodes.
// 1. pusher-js clients connect through a loopback TCP load balancer
//    (lib/lb.js, round-robin, skipping a backend that refuses); the node
//    holding some of them is SIGKILLed: they reconnect by themselves
//    through the balancer to the other node, are resubscribed, get the
//    events published afterwards, and every presence member list (and the
//    HTTP API's counts) is right once the dead node's lease is reaped.
// 2. A real sno-agent whose relay_url lists both nodes streams to the
//    first while a viewer on the second watches; the first is SIGKILLed:
//    the agent fails over to the second and the viewer's samples and the
//    history go on with no sample lost, repeated or reordered.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const {
  sdkFor, subscribe, messages, waitMessage, waitFor, signedRequest,
} = require('./lib');
const { startCluster, barrier } = require('./lib/cluster');
const sno = require('./lib/sno');

// Each test has a cluster of its own, stopped whatever the test did.
async function withCluster(fn) {
  const c = await startCluster();
  try {
    await fn(c);
  } finally {
    await c.stop();
  }
}

function succeededOn(cl, ch) {
  return messages(cl, 'pusher_internal:subscription_succeeded', ch).length;
}

function memberIds(cl, ch) {
  const ids = [];
  cl.channel(ch).members.each((m) => ids.push(m.id));
  return ids.sort();
}

test('sigkill_node_behind_a_load_balancer_its_clients_resubscribe_on_the_other', () =>
  withCluster(async (c) => {
    const A = await c.node('relay-a');
    const B = await c.node('relay-b');
    const lb = await c.lb([A, B]);
    const sdk = sdkFor(A);
    const PUB = 'lb-news';
    const PRE = 'presence-lb';
    const users = [];
    const clients = [];
    const nodeOf = new Map();
    for (let i = 0; i < 6; i++) {
      const id = `lb${i}`;
      const cl = await c.client(A, { port: lb.port, user: { user_id: id, user_info: { i } } });
      nodeOf.set(cl, lb.picks.at(-1));
      await subscribe(cl, PUB);
      await subscribe(cl, PRE);
      users.push(id);
      clients.push(cl);
    }
    const onB = clients.filter((cl) => nodeOf.get(cl) === B.port);
    const onA = clients.filter((cl) => nodeOf.get(cl) === A.port);
    assert.equal(onB.length, 3, `round-robin put ${onB.length} of 6 on B`);
    await waitFor(() => clients.every((cl) => cl.channel(PRE).members.count === 6), 5000,
      'every client to list 6 members');
    const oldIds = new Map(onB.map((cl) => [cl, cl.connection.socket_id]));

    process.kill(B.pid, 'SIGKILL');
    await B.exited;
    // pusher-js reconnects by itself; the balancer skips the dead node.
    await waitFor(() => onB.every((cl) => cl.connection.state === 'connected' &&
      cl.connection.socket_id !== oldIds.get(cl) &&
      succeededOn(cl, PUB) === 2 && succeededOn(cl, PRE) === 2), 15000,
    'the clients of B connected again and resubscribed to both channels');
    assert.ok(lb.picks.slice(6).every((p) => p === A.port), `reconnects went to ${lb.picks}`);
    assert.ok(lb.refused > 0, 'the balancer never tried the dead node');
    for (const cl of onA) {
      assert.equal(succeededOn(cl, PUB), 1, 'a client of A was disturbed');
      assert.equal(succeededOn(cl, PRE), 1);
    }

    // Once B's lease is reaped, Redis holds each socket once.
    await waitFor(() => c.num('ZCARD', 'sno:nodes') === 1, 15000, 'B reaped');
    await waitFor(() => c.num('HLEN', `sno:{1:${PRE}}:p`) === 6, 5000,
      'six presence sockets in Redis');
    await sdk.trigger(PUB, 'after', { n: 1 });
    await sdk.trigger(PRE, 'after', { n: 2 });
    for (const cl of clients) {
      await waitMessage(cl, 'after', PUB, 5000);
      await waitMessage(cl, 'after', PRE, 5000);
    }
    await barrier(sdk, PRE, clients);
    for (const cl of clients) {
      assert.deepEqual(memberIds(cl, PRE), [...users].sort(),
        `members of ${cl.connection.socket_id}`);
    }
    const r = await signedRequest(A, 'GET', `/apps/1/channels/${PRE}`, undefined,
      { params: { info: 'user_count,subscription_count' } });
    assert.deepEqual(r.json, { occupied: true, user_count: 6, subscription_count: 6 });
  }));

test('sigkill_the_node_an_agent_streams_to_it_fails_over_losing_no_sample', () =>
  withCluster(async (c) => {
    const CH = 'private-host-F';
    const F = sno.newHost('F', 'acme');
    const A = await c.snoNode('relay-a', [F]);
    const B = await c.snoNode('relay-b', [F]);
    const agent = await c.agent([A, B], F);
    const v = await c.metricsClient(B);
    await subscribe(v, CH);
    const seqs = () => sno.samplesOf(v, CH).map((s) => s.seq);
    const diag = () => `: ${seqs().join(',')}\n--- agent ---\n${agent.stderr}` +
      `\n--- B ---\n${B.logs()}`;
    await waitFor(() => seqs().length >= 3, 8000, '3 samples on the viewer')
      .catch((e) => assert.fail(`${e.message}${diag()}`));
    assert.doesNotMatch(agent.stderr, /relay (unreachable|error)/,
      'the agent was not talking to A alone');

    await A.kill('SIGKILL');
    const atKill = seqs().at(-1);
    await waitFor(() => seqs().filter((s) => s > atKill).length >= 4, 15000,
      'samples after the failover on the viewer')
      .catch((e) => assert.fail(`${e.message}${diag()}`));
    assert.match(agent.stderr, new RegExp(`url=http://127\\.0\\.0\\.1:${A.port}`),
      'the agent never lost A');
    const got = seqs();
    for (let i = 1; i < got.length; i++) {
      assert.equal(got[i], got[i - 1] + 1, `viewer samples not consecutive${diag()}`);
    }
    // The history on B holds the same run of samples, each once.
    const l = await sno.login(B, 'alice', 'alice-pw');
    assert.equal(l.status, 200, `login on B: ${l.status} ${l.body}`);
    const h = await sno.api(B, 'GET', `/api/v1/hosts/F/history?since=${got[0] - 1}`,
      { cookie: l.cookie });
    assert.equal(h.status, 200);
    const hs = h.json.samples.map((s) => s.seq);
    assert.deepEqual(hs.slice(0, got.length), got, 'history on B differs from the viewer');
    for (let i = 1; i < hs.length; i++) {
      assert.equal(hs[i], hs[i - 1] + 1, `history not consecutive: ${hs.join(',')}`);
    }
  }));
