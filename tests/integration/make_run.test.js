'use strict';
// `make run` ended with Ctrl-C on a terminal, as a user does it: script(1)
// gives make a pseudo-terminal and the test types ^C into it. Both daemons
// stop, the demo prints "sno: stopped", make prints no error and exits 0
// (issue 10). The make flavour follows $SNO_BUILD (build-asan -> asan), so
// nothing is rebuilt; the demo's files go to a temp dir on a free port.
const { test, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, waitFor, tmpDir } = require('./lib');

const TOP = path.resolve(__dirname, '../..');
const FLAVOUR = /asan/.test(process.env.SNO_BUILD || '') ? 'asan' : 'release';
const started = new Set(); // every process this file started, by PID

after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (_) {
      /* already gone */
    }
  }
});

// PIDs of the processes whose command line names dir (the demo's daemons
// run with -c DIR/relay.conf and -c DIR/agent.conf).
function daemonsIn(dir) {
  const pids = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd;
    try {
      cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch (_) {
      continue;
    }
    if (/sno-(relay|agent)/.test(cmd) && cmd.includes(dir)) pids.push(Number(p));
  }
  return pids;
}

function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(st); // a zombie has stopped
  } catch (_) {
    return false;
  }
}

test('Ctrl-C on make run stops both daemons, prints sno: stopped, exits 0', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const env = { ...process.env, SNO_DEMO_DIR: dir, SNO_PORT: String(port) };
  delete env.MAKEFLAGS;
  delete env.MAKELEVEL;
  const cmd = `make -C ${TOP} --no-print-directory FLAVOUR=${FLAVOUR} run`;
  const child = spawn('script', ['-qefc', cmd, '/dev/null'],
    { env, stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(child.pid);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));

  await waitFor(() => out.includes('sno is running'), 120000, `the demo to start:\n${out}`);
  const pids = await waitFor(() => {
    const p = daemonsIn(dir);
    return p.length === 2 && p;
  }, 30000, 'a relay and an agent of the demo');
  pids.forEach((p) => started.add(p));
  await waitFor(() => /relay ready/.test(fs.readFileSync(path.join(dir, 'relay.log'), 'utf8')),
    30000, 'relay ready in the demo log');

  child.stdin.write('\x03');
  let timer;
  const { code, sig } = await Promise.race([exited, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`make run still running 60 s after ^C:\n${out}`)),
      60000);
  })]);
  clearTimeout(timer);
  child.stdin.end();
  assert.strictEqual(sig, null, out);
  assert.strictEqual(code, 0, out);
  assert.match(out, /sno: stopped/);
  assert.doesNotMatch(out, /\*\*\*|Error|Interrupt/);
  await waitFor(() => pids.every((p) => !alive(p)), 30000, `demo daemons ${pids} to stop`);
});
