'use strict';
// Starts a real redis-server on a free 127.0.0.1 port with no persistence,
// for the cluster tests (issue 12), and stops it by PID. start() again on
// the same object restarts it, empty, on the same port.

const { spawn } = require('node:child_process');
const net = require('node:net');
const { bound, freePort, waitFor } = require('./wait');

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch (_) { /* gone */ }
  }
});

// Resolves true when something accepts a TCP connection on port.
function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function redisServer() {
  const port = await freePort();
  let child = null;
  let exited = null;
  const r = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    pid: () => (child ? child.pid : null),
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      live.add(child);
      const c = child;
      exited = new Promise((resolve) => c.on('exit', () => { live.delete(c); resolve(); }));
      await waitFor(() => accepts(port), 5000, `redis-server on ${port}`);
    },
    async stop(signal = 'SIGKILL') {
      if (!child) return;
      const c = child;
      child = null;
      c.kill(signal);
      const timer = setTimeout(() => c.kill('SIGKILL'), bound(3000));
      await exited;
      clearTimeout(timer);
    },
  };
  await r.start();
  return r;
}

module.exports = { redisServer };
