'use strict';
// Issue 10: under systemd (Type=notify) the agent says READY=1 once its
// config is loaded and it runs, and STOPPING=1 on SIGTERM, on the socket
// $NOTIFY_SOCKET names; the relay it talks to is real.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { waitFor, tmpDir } = require('./lib');
const sno = require('./lib/sno');
const { startNotifyListener } = require('./lib/notify');

let dir, relay, notify, agent;

before(async () => {
  dir = tmpDir();
  notify = startNotifyListener(path.join(dir, 'notify.sock'));
  await notify.bound;
  const H = sno.newHost('H', 'acme');
  relay = await sno.startSnoRelay([H]);
  process.env.NOTIFY_SOCKET = notify.path;
  try {
    agent = await sno.startAgent(relay.port, H);
  } finally {
    delete process.env.NOTIFY_SOCKET;
  }
});

after(async () => {
  if (agent) await sno.stopDaemon(agent);
  if (relay) await relay.stop();
  if (notify) notify.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('agent_notifies_ready_then_stopping', async () => {
  await waitFor(() => notify.lines.some((l) => /^READY=1$/m.test(l)), 10000, 'READY=1');
  assert.equal(notify.lines.some((l) => /^STOPPING=1$/m.test(l)), false);
  const info = await sno.stopDaemon(agent);
  assert.deepEqual(info, { code: 0, signal: null }, agent.stderr);
  await waitFor(() => notify.lines.some((l) => /^STOPPING=1$/m.test(l)), 10000, 'STOPPING=1');
  assert.ok(notify.lines.findIndex((l) => /^READY=1$/m.test(l)) <
    notify.lines.findIndex((l) => /^STOPPING=1$/m.test(l)));
});
