'use strict';
// Starts a real sno-relay process for a test file: free port, generated INI
// config in a fresh temp dir, waits for the "relay ready" log line, and stops
// the process by PID (SIGTERM, then SIGKILL after 3 s).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { bound, freePort } = require('./wait');

const RELAY_BIN =
  process.env.SNO_RELAY ||
  path.resolve(__dirname, '../../../build/sno-relay');

const DEMO_APP = {
  name: 'demo',
  id: '1',
  key: 'demo-key',
  secret: 'demo-secret',
  client_events: 'yes',
};

// Relays still running when this process goes away are killed by PID, even
// if the test runner interrupts the file.
const live = new Set();
function killLive() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch (_) {
      /* already gone */
    }
  }
}
process.on('exit', killLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killLive();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sno-it-'));
}

// Render the INI text. relayKeys and each app's keys are written as given,
// so a test can set any key the relay knows (or a bad one, for config tests).
function renderConfig(relayKeys, apps) {
  const lines = ['[relay]'];
  for (const [k, v] of Object.entries(relayKeys)) lines.push(`${k} = ${v}`);
  for (const app of apps) {
    lines.push('', `[app ${app.name}]`);
    for (const [k, v] of Object.entries(app)) {
      if (k !== 'name' && v !== undefined) lines.push(`${k} = ${v}`);
    }
  }
  return lines.join('\n') + '\n';
}

/*
 * Start a relay. opts.relay: extra [relay] keys (listen is filled in);
 * opts.nofile: its file descriptor limit;
 * opts.apps: list of app sections (default: the demo app, merged with
 * opts.app). Resolves to {port, pid, configFile, dir, logs(), stop(),
 * exited}. Rejects if "relay ready" does not appear within 10 s.
 */
async function startRelay(opts = {}) {
  const port = await freePort();
  const ownDir = !opts.dir;
  const dir = opts.dir || tmpDir();
  const relayKeys = { listen: `127.0.0.1:${port}`, ...(opts.relay || {}) };
  const apps = opts.apps || [{ ...DEMO_APP, ...(opts.app || {}) }];
  const configFile = path.join(dir, 'relay.ini');
  fs.writeFileSync(configFile, renderConfig(relayKeys, apps));

  if (!fs.existsSync(RELAY_BIN)) {
    throw new Error(`relay binary not found at ${RELAY_BIN} (run make)`);
  }
  // opts.nofile: the relay runs with that many file descriptors at most
  // (prlimit execs it: the PID is the relay's).
  const [bin, args] = opts.nofile
    ? ['prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, RELAY_BIN, '-c', configFile]]
    : [RELAY_BIN, ['-c', configFile]];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      resolve(exitInfo);
    });
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
  });

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay not ready within ${bound(10000)} ms; stderr:\n${stderr}`));
    }, bound(10000));
    const check = () => {
      if (/relay ready/.test(stderr)) {
        clearTimeout(timer);
        child.stderr.off('data', check);
        resolve();
      }
    };
    child.stderr.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(
        `relay exited before ready (code=${code} signal=${signal}); ` +
        `stderr:\n${stderr}`));
    });
    check();
  });

  async function stop() {
    if (exitInfo) return exitInfo;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!exitInfo) child.kill('SIGKILL');
    }, bound(3000));
    const info = await exited;
    clearTimeout(timer);
    return info;
  }

  return {
    port,
    pid: child.pid,
    dir,
    ownDir,
    configFile,
    apps,
    app: apps[0],
    logs: () => stderr,
    alive: () => exitInfo === null,
    exitInfo: () => exitInfo,
    exited,
    stop,
  };
}

/*
 * Stop relay (if started) and check it shut down cleanly: exit status 0 on
 * SIGTERM and no sanitizer or runtime-error report in its log. Used by every
 * test file's after hook, so an ASan build's leak or UB reports fail the run.
 */
async function stopRelay(relay) {
  if (!relay) return;
  const info = await relay.stop();
  const log = relay.logs();
  if (relay.ownDir) fs.rmSync(relay.dir, { recursive: true, force: true });
  const report = log.match(/(==\d+==ERROR: \w+Sanitizer.*|runtime error:.*)/);
  if (report) throw new Error(`relay reported: ${report[0]}\n${log.slice(-4000)}`);
  if (info.code !== 0) {
    throw new Error(`relay exited with ${JSON.stringify(info)} on SIGTERM\n${log.slice(-4000)}`);
  }
}

// A self-signed certificate for 127.0.0.1 made with the openssl CLI in dir:
// {key, cert} (file paths) and ca (the certificate, to verify against).
function selfSignedCert(dir) {
  const key = path.join(dir, 'k.pem');
  const cert = path.join(dir, 'c.pem');
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { key, cert, ca: fs.readFileSync(cert) };
}

// Run the relay binary to completion with args (for CLI tests).
function runRelayCli(args, timeoutMs = 5000) {
  const r = spawnSync(RELAY_BIN, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

module.exports = {
  RELAY_BIN,
  DEMO_APP,
  startRelay,
  stopRelay,
  renderConfig,
  runRelayCli,
  tmpDir,
  selfSignedCert,
};
