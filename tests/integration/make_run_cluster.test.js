'use strict';
// `make run-cluster` (issue 12, acceptance 3), as a user runs it: the demo
// prints both dashboard URLs and the login; the login works on either
// node, and a viewer on the node the agent does not hold streams the host
// live; Ctrl-C stops the relays, the agent and Redis. The script runs
// directly (the Makefile target only builds first), with its files in a
// temp dir on free ports.
const { test, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, waitFor, tmpDir } = require('./lib');
const { subscribe } = require('./lib/clients');
const sno = require('./lib/sno');

const TOP = path.resolve(__dirname, '../..');
const BUILD = process.env.SNO_BUILD || 'build';
const started = new Set(); // every process this file started, by PID
let viewer;

after(() => {
  if (viewer) viewer.disconnect();
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (_) {
      /* already gone */
    }
  }
});

// PIDs of the processes whose command line matches re.
function pidsOf(re) {
  const pids = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd;
    try {
      cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch (_) {
      continue;
    }
    if (re.test(cmd)) pids.push(Number(p));
  }
  return pids;
}

function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(st);
  } catch (_) {
    return false;
  }
}

test('make run-cluster: two nodes and Redis, a viewer on node b sees the host live', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const port2 = await freePort();
  const env = { ...process.env, SNO_DEMO_DIR: dir, SNO_PORT: String(port),
    SNO_PORT2: String(port2) };
  const child = spawn('sh', [path.join(TOP, 'packaging/run-cluster.sh'), BUILD],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child.pid);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));

  await waitFor(() => out.includes('sno is running'), 60000, `the demo to start:\n${out}`);
  assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${port}/`));
  assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${port2}/`));
  assert.match(out, /user demo, password demo/);
  const host = out.match(/Host:\s+(\S+)/)[1];
  const rport = out.match(/Redis:\s+127\.0\.0\.1:(\d+)/)[1];
  const daemons = await waitFor(() => {
    const p = pidsOf(new RegExp(`sno-(relay|agent) .*${dir}|redis-server 127\\.0\\.0\\.1:${rport}`));
    return p.length === 4 && p;
  }, 10000, 'two relays, an agent and redis-server');
  daemons.forEach((p) => started.add(p));

  const A = { port, origin: `http://127.0.0.1:${port}` };
  const B = { port: port2, origin: `http://127.0.0.1:${port2}` };
  const l = await sno.login(A, 'demo', 'demo');
  assert.strictEqual(l.status, 200, `login on node a: ${l.status} ${l.body}`);
  // The agent's relay_url lists node a first: node b holds no check-in.
  viewer = await sno.connectDashboardPusher(B, l.cookie, 5000, 'sno-demo-key');
  await subscribe(viewer, `private-host-${host}`);
  await waitFor(() => sno.samplesOf(viewer, `private-host-${host}`).length >= 2, 15000,
    `samples on node b\n${out}`);
  const r = await sno.api(B, 'GET', '/api/v1/hosts', { cookie: l.cookie });
  assert.strictEqual(r.status, 200);
  const row = r.json.hosts.find((h) => h.id === host);
  assert.ok(row && row.online && row.streaming, `hosts on node b: ${r.body}`);
  viewer.disconnect();
  viewer = null;

  child.kill('SIGINT');
  const { code } = await exited;
  assert.strictEqual(code, 0, out);
  assert.match(out, /sno: stopped/);
  await waitFor(() => daemons.every((p) => !alive(p)), 10000, `demo processes ${daemons} to stop`);
});
