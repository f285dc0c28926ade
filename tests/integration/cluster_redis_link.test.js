'use strict';
// Issue 12 (docs/scaleout.md), first part: a relay with [relay] redis set
// connects to Redis on its event loop; while Redis is down /readyz says not
// ready (redis:false) and the node keeps running with its websockets open;
// when Redis comes back (restarted empty) the node reconnects by itself.
// A bad redis URL is refused by --check-config with a clear error. A node
// without node_id is named "<host name>-<listen port>". A SIGHUP reload that
// changes redis, redis_prefix or node_id keeps the running values, logs
// that they need a restart, and the node goes on publishing as before.
// The node's Lua scripts, its 250 ms watch poll too, run as EVALSHA: the
// script text crosses the link only once after Redis forgot it.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  startRelay, stopRelay, request, waitFor, runRelayCli, tmpDir, sdkFor,
} = require('./lib');
const { startCluster } = require('./lib/cluster');
const rawws = require('./lib/rawws');

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function readyz(port) {
  const r = await request(port, 'GET', '/readyz');
  return { status: r.status, body: JSON.parse(r.body) };
}

test('readyz_follows_redis_down_and_back_and_the_node_stays_up', async () => {
  const cluster = await startCluster();
  cleanup.push(() => cluster.stop());
  const { redis } = cluster;
  const relay = await cluster.node('relay-a'); // resolves once readyz is 200
  assert.equal((await readyz(relay.port)).body.redis, true);

  const ws = await rawws.connectFrames(relay);
  cleanup.push(async () => ws.sock.destroy());
  await waitFor(() => ws.texts().some((t) => t.includes('connection_established')), 5000,
    'connection_established');

  await redis.stop('SIGKILL');
  const down = await waitFor(async () => {
    const r = await readyz(relay.port);
    return r.status === 503 && r;
  }, 10000, 'readyz 503 with redis down');
  assert.equal(down.body.redis, false);
  assert.equal(down.body.listeners, true);
  assert.equal((await request(relay.port, 'GET', '/healthz')).status, 200);
  assert.ok(relay.alive(), 'relay still running');
  assert.equal(ws.closed, false, 'websocket still open');
  assert.equal(ws.closeCode, null);

  await redis.start();
  await waitFor(async () => (await readyz(relay.port)).status === 200, 10000,
    'readyz 200 after redis restarted');
  assert.ok(relay.alive());
  assert.equal(ws.closed, false, 'websocket still open after reconnect');
});

test('relay_without_redis_is_ready_and_says_redis_true', async () => {
  const relay = await startRelay();
  cleanup.push(() => stopRelay(relay));
  const r = await readyz(relay.port);
  assert.equal(r.status, 200);
  assert.equal(r.body.redis, true);
});

test('check_config_refuses_a_bad_redis_url', () => {
  const dir = tmpDir();
  cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'relay.ini');
  fs.writeFileSync(file, '[relay]\nlisten = 127.0.0.1:6001\nredis = http://127.0.0.1:6379\n' +
    '\n[app demo]\nid = 1\nkey = demo-key\nsecret = demo-secret\n');
  const r = runRelayCli(['-c', file, '--check-config']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /redis: 'http:\/\/127\.0\.0\.1:6379' must start with redis:\/\//);
});

test('node_id_defaults_to_host_name_and_listen_port', async () => {
  const cluster = await startCluster();
  cleanup.push(() => cluster.stop());
  const a = await cluster.node(null);
  const b = await cluster.node(null);
  const host = os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 58);
  for (const r of [a, b]) {
    assert.ok(r.logs().includes(`msg="redis connected" host=127.0.0.1 ` +
      `port=${cluster.redis.port} node=${host}-${r.port}`), r.logs());
  }
  assert.equal(cluster.num('ZCARD', 'sno:nodes'), 2);
});

test('sighup_with_a_changed_redis_keeps_the_running_one_and_says_restart', async () => {
  const cluster = await startCluster();
  cleanup.push(() => cluster.stop());
  const relay = await cluster.node('relay-a');
  const url = cluster.redis.url;
  const text = fs.readFileSync(relay.configFile, 'utf8');
  fs.writeFileSync(relay.configFile, text
    .replace(/^redis = .*$/m, 'redis = redis://:pw@127.0.0.1:1/3')
    .replace(/^node_id = .*$/m, 'node_id = relay-z\nredis_prefix = other'));
  process.kill(relay.pid, 'SIGHUP');
  await waitFor(() => /relay reloaded /.test(relay.logs()), 5000, 'the reload');
  const logs = relay.logs();
  assert.ok(logs.includes(`relay reload key=redis msg="takes effect at the next restart; ` +
    `still ${url}"`), logs);
  assert.match(logs, /key=redis_prefix msg="takes effect at the next restart; still sno"/);
  assert.match(logs, /key=node_id msg="takes effect at the next restart; still relay-a"/);
  assert.doesNotMatch(logs, /pw@/, 'a password in the log');
  assert.ok(relay.alive());
  assert.equal((await readyz(relay.port)).status, 200);
  // Still on the first Redis, under the first prefix.
  const r = await sdkFor(relay).trigger('after-hup', 'e', {});
  assert.equal(r.status, 200);
  assert.equal(cluster.num('EXISTS', 'sno:{1:after-hup}:m'), 1);
  assert.equal(cluster.cli('KEYS', 'other:*'), '');
});

// Calls of cmd since the last CONFIG RESETSTAT (INFO commandstats).
function calls(cluster, cmd) {
  const m = cluster.cli('INFO', 'commandstats')
    .match(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

test('scripts_run_by_evalsha_and_are_sent_again_once_after_a_flush', async () => {
  const cluster = await startCluster();
  cleanup.push(() => cluster.stop());
  await cluster.node('relay-a');
  cluster.cli('SCRIPT', 'FLUSH');
  cluster.cli('CONFIG', 'RESETSTAT');
  // 3 s of the watch poll (4/s), the lease and the held webhooks (1/s).
  await waitFor(() => calls(cluster, 'evalsha') >= 15, 10000, '15 EVALSHA');
  // Once per script after NOSCRIPT: the watch poll, the lease and the
  // held-webhook script, the three an idle node runs.
  assert.ok(calls(cluster, 'eval') <= 3, `${calls(cluster, 'eval')} EVAL for ` +
    `${calls(cluster, 'evalsha')} EVALSHA`);
});
