'use strict';
// What the browser tests share: a real sno-relay and sno-agent on 127.0.0.1
// with a config written into a fresh temp dir (two accounts, alice in acme
// owning this machine as a host, mallory in other), headless Debian Chromium
// through playwright-core, and login. Every process started here is stopped
// by its PID, also when the test process is interrupted.
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { chromium } = require('playwright-core');

const TOP = path.resolve(__dirname, '../..');
const RELAY = process.env.SNO_RELAY || path.join(TOP, 'build/sno-relay');
const AGENT = process.env.SNO_AGENT || path.join(TOP, 'build/sno-agent');
const WEB_ROOT = process.env.SNO_WEB_ROOT || path.join(TOP, 'web/dist');
const BROWSER = process.env.SNO_CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(__dirname, 'out');
const HOST = os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-') || 'localhost';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-quic', '--no-first-run',
  '--disable-component-update', '--disable-sync'];

// Children still running when this process ends are killed by PID.
const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { process.kill(c.pid, 'SIGKILL'); } catch (e) { /* gone */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
}

function rand(n) {
  return crypto.randomBytes(n).toString('hex');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function relayCli(args, input) {
  const r = spawnSync(RELAY, args, { input, encoding: 'utf8', timeout: 20000 });
  assert.strictEqual(r.status, 0,
    `sno-relay ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

// A child process with its stderr kept; p.done resolves when it exits.
function track(name, child) {
  const p = { name, child, pid: child.pid, log: '', exited: null };
  live.add(child);
  p.done = new Promise((resolve) => child.on('exit', (code, signal) => {
    p.exited = { code, signal };
    live.delete(child);
    resolve();
  }));
  if (child.stderr) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { p.log += d; });
  }
  return p;
}

function waitReady(p, ready, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `${p.name}: no "${ready}" within ${timeoutMs} ms; stderr:\n${p.log}`)), timeoutMs);
    const check = () => {
      if (!p.log.includes(ready)) return;
      clearTimeout(timer);
      p.child.stderr.off('data', check);
      resolve(p);
    };
    p.child.stderr.on('data', check);
    p.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${p.name} exited (${code}/${signal}) before ready:\n${p.log}`));
    });
    check();
  });
}

async function stopProc(p) {
  if (p.exited) return;
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch (e) {
    return;
  }
  const t = setTimeout(() => {
    try { process.kill(p.pid, 'SIGKILL'); } catch (e) { /* gone */ }
  }, 3000);
  await p.done;
  clearTimeout(t);
}

/*
 * Start relay + agent. relayKeys: extra [relay] keys (e.g. max_session_s);
 * opts.extraHosts: more host ids of acme, each with its own agent on this
 * machine (stack.hosts lists them all).
 * Resolves to {base, port, app {id, key, secret} (the metrics app, for the
 * Pusher HTTP API), host, pw, tmp, procs, spawn(name, bin, args), logs(),
 * stopRelay(), startRelay(), stop()}; stop() ends every process in reverse
 * order and removes tmp.
 */
async function startStack(relayKeys = {}, opts = {}) {
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')),
    `no dashboard build at ${WEB_ROOT} (run make, or: cd web && npm ci && node build.mjs)`);
  for (const bin of [RELAY, AGENT, BROWSER]) {
    assert.ok(fs.existsSync(bin), `${bin} not found (run make)`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sno-browser-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const pw = { alice: rand(12), mallory: rand(12) };
  const app = { id: 'sno', key: 'sno-key', secret: rand(16) };
  const procs = [];

  const hash = (p) => relayCli(['hash-password'], p + '\n').trim();
  const hostSection = relayCli(['new-host', HOST, '--account', 'acme']);
  const key = /^key\s*=\s*([0-9a-f]{64})\s*$/m.exec(hostSection);
  assert.ok(key, `new-host printed no key:\n${hostSection}`);
  const extra = (opts.extraHosts || []).map((id) => {
    const sec = relayCli(['new-host', id, '--account', 'acme']);
    return { id, section: sec, key: /^key\s*=\s*([0-9a-f]{64})\s*$/m.exec(sec)[1] };
  });
  const relay = {
    listen: `127.0.0.1:${port}`, web_root: path.resolve(WEB_ROOT),
    metrics_app: 'sno', session_grace_s: 5, ...relayKeys,
  };
  const relayConf = path.join(tmp, 'relay.conf');
  fs.writeFileSync(relayConf, [
    '[relay]', ...Object.entries(relay).map(([k, v]) => `${k} = ${v}`), '',
    `[app ${app.id}]`, `id = ${app.id}`, `key = ${app.key}`, `secret = ${app.secret}`, '',
    '[account acme]', 'title = Acme', '', '[account other]', 'title = Other', '',
    '[user alice]', 'account = acme', `password_hash = ${hash(pw.alice)}`, '',
    '[user mallory]', 'account = other', `password_hash = ${hash(pw.mallory)}`, '',
    hostSection.trim(), '', ...extra.map((x) => x.section.trim() + '\n'),
  ].join('\n'), { mode: 0o600 });
  const keyFile = path.join(tmp, 'agent.key');
  fs.writeFileSync(keyFile, key[1] + '\n', { mode: 0o600 });
  const agentConf = path.join(tmp, 'agent.conf');
  fs.writeFileSync(agentConf, `[agent]\nrelay_url = ${base}\nhost_id = ${HOST}\n` +
    `key_file = ${keyFile}\ninterval_ms = 1000\ntop_processes = 30\n`, { mode: 0o600 });

  const run = (name, bin, args, stdio = ['ignore', 'ignore', 'pipe']) => {
    const p = track(name, spawn(bin, args, { stdio }));
    procs.push(p);
    return p;
  };
  const extraConfs = extra.map((x) => {
    const kf = path.join(tmp, `agent-${x.id}.key`);
    fs.writeFileSync(kf, x.key + '\n', { mode: 0o600 });
    const cf = path.join(tmp, `agent-${x.id}.conf`);
    fs.writeFileSync(cf, `[agent]\nrelay_url = ${base}\nhost_id = ${x.id}\n` +
      `key_file = ${kf}\ninterval_ms = 1000\ntop_processes = 5\n`, { mode: 0o600 });
    return { id: x.id, conf: cf };
  });
  const stack = {
    base, port, app, host: HOST, hosts: [HOST, ...extra.map((x) => x.id)], pw, tmp, procs,
    spawn: (name, bin, args) => run(name, bin, args, 'ignore'),
    logs: () => procs.map((p) =>
      `--- ${p.name} (pid ${p.pid}) ---\n${p.log.slice(-3000)}`).join('\n'),
    // Stop the relay (by PID) and start it again on the same port and config.
    async stopRelay() {
      const r = procs.find((p) => p.name === 'sno-relay' && !p.exited);
      if (r) await stopProc(r);
    },
    async startRelay() {
      await waitReady(run('sno-relay', RELAY, ['-c', relayConf]), 'relay ready');
    },
    async stop() {
      for (const p of procs.slice().reverse()) await stopProc(p);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  try {
    await waitReady(run('sno-relay', RELAY, ['-c', relayConf]), 'relay ready');
    await waitReady(run('sno-agent', AGENT, ['-c', agentConf]), 'agent ready');
    await Promise.all(extraConfs.map((x) =>
      waitReady(run(`sno-agent ${x.id}`, AGENT, ['-c', x.conf]), 'agent ready')));
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}

// Headless Chromium with a fresh profile in dir, one page at 1366x768.
async function launchBrowser(dir) {
  const context = await chromium.launchPersistentContext(path.join(dir, 'chromium'), {
    executablePath: BROWSER,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1366, height: 768 },
    colorScheme: 'light',
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => console.error(`# page error: ${e.message}`));
  return { context, page };
}

// Logs in on the page at hash (default the host list, which starts no
// session; '#/fleet' is the landing page and streams every host).
async function login(page, stack, user, hash = '#/hosts') {
  await page.goto(stack.base + '/' + hash);
  await page.waitForSelector('#login-user', { timeout: 10000 });
  await page.fill('#login-user', user);
  await page.fill('#login-password', stack.pw[user]);
  await page.click('.login-card button[type=submit]');
  await page.waitForSelector(hash === '#/fleet' ? '.fleet[data-loaded="true"]'
    : '.host-list[data-loaded="true"]', { timeout: 10000 });
}

async function logout(page) {
  await page.click('.topbar button:has-text("Sign out")');
  await page.waitForSelector('#login-user', { timeout: 10000 });
}

const livePoints = (page) => page.getAttribute('[data-chart="cpu"]', 'data-live-points').then(Number);

function waitLivePoints(page, n, timeout) {
  return page.waitForFunction(
    (k) => Number(document.querySelector('[data-chart="cpu"]').dataset.livePoints) >= k,
    n, { timeout, polling: 100 });
}

module.exports = {
  TOP, OUT, HOST, startStack, launchBrowser, login, logout, livePoints, waitLivePoints,
};
