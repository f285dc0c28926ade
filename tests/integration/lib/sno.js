'use strict';
// Helpers for the sno-specific integration tests (agent streaming and the
// dashboard API): a relay with accounts, users and hosts, a real sno-agent
// process, hand-signed agent API requests, a logged-in dashboard client, a
// pusher-js client authorised through /api/v1/pusher/auth, and raw HTTP for
// paths a normal client would normalise. Every process is stopped by PID.

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { bound, freePort, waitFor, sleep } = require('./wait');
const { tmpDir, RELAY_BIN } = require('./relay');
const { request } = require('./http');
const { PusherClient, connectPusher, messages } = require('./clients');

const AGENT_BIN = process.env.SNO_AGENT ||
  path.resolve(__dirname, '../../../build/sno-agent');

const METRICS_APP = { name: 'sno', id: 'sno', key: 'sno-key', secret: 'sno-secret' };

// Every child started here; killed by PID if the test process goes away.
const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch (_) {
      /* gone */
    }
  }
});

const hashCache = new Map();
// `sno-relay hash-password` with pw on stdin; returns the $argon2id$ hash.
function hashPassword(pw) {
  if (hashCache.has(pw)) return hashCache.get(pw);
  const r = spawnSync(RELAY_BIN, ['hash-password'], { input: `${pw}\n`,
    encoding: 'utf8', timeout: 20000 });
  const h = (r.stdout || '').trim();
  if (r.status !== 0 || !h.startsWith('$argon2id$')) {
    throw new Error(`hash-password failed (status ${r.status}): ${r.stdout}${r.stderr}`);
  }
  hashCache.set(pw, h);
  return h;
}

// `sno-relay new-host NAME --account ACCOUNT`; returns {name, account, key}.
function newHost(name, account) {
  const r = spawnSync(RELAY_BIN, ['new-host', name, '--account', account],
    { encoding: 'utf8', timeout: 10000 });
  const key = (r.stdout.match(/^key\s*=\s*([0-9a-f]{64})\s*$/m) || [])[1];
  if (r.status !== 0 || !key || !r.stdout.includes(`[host ${name}]`)) {
    throw new Error(`new-host failed (status ${r.status}): ${r.stdout}${r.stderr}`);
  }
  return { name, account, key, section: r.stdout };
}

/*
 * The relay config of the brief: metrics app sno, accounts acme and other,
 * users alice (acme) and mallory (other), hosts as given. opts.relay adds
 * [relay] keys (e.g. web_root).
 */
function snoConfig(port, hosts, opts = {}) {
  const relay = {
    listen: `127.0.0.1:${port}`,
    host_app: 'sno',
    session_grace_s: 3,
    max_session_s: 1800,
    history_seconds: 600,
    ...(opts.relay || {}),
  };
  const out = ['[relay]'];
  for (const [k, v] of Object.entries(relay)) out.push(`${k} = ${v}`);
  out.push('', '[app sno]', 'id = sno', 'key = sno-key', 'secret = sno-secret',
    '', '[account acme]', 'title = Acme', '', '[account other]', 'title = Other',
    '', '[user alice]', 'account = acme', `password_hash = ${hashPassword('alice-pw')}`,
    '', '[user mallory]', 'account = other',
    `password_hash = ${hashPassword('mallory-pw')}`);
  for (const h of hosts) {
    out.push('', `[host ${h.name}]`, `account = ${h.account}`, `key = ${h.key}`);
  }
  return out.join('\n') + '\n';
}

// Spawns a process, keeps its stderr, resolves once readyRe shows there.
// env: the child's environment (default this process's).
function spawnDaemon(bin, args, readyRe, what, timeoutMs = 10000, env = process.env) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  live.add(child);
  const st = { child, pid: child.pid, stderr: '', exit: null };
  st.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      st.exit = { code, signal };
      live.delete(child);
      resolve(st.exit);
    });
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    st.stderr += d;
  });
  st.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} not ready within ${bound(timeoutMs)} ms; stderr:\n${st.stderr}`));
    }, bound(timeoutMs));
    const check = () => {
      if (readyRe.test(st.stderr)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited before ready (code=${code} signal=${signal}); ` +
        `stderr:\n${st.stderr}`));
    });
  });
  return st;
}

// Stops a daemon by its PID: sig (default SIGTERM), SIGKILL after 3 s.
async function stopDaemon(st, sig = 'SIGTERM') {
  if (!st || st.exit) return st && st.exit;
  try {
    process.kill(st.pid, sig);
  } catch (_) {
    /* gone */
  }
  const timer = setTimeout(() => {
    if (!st.exit) {
      try {
        process.kill(st.pid, 'SIGKILL');
      } catch (_) {
        /* gone */
      }
    }
  }, bound(3000));
  const info = await st.exited;
  clearTimeout(timer);
  return info;
}

/*
 * Start a relay with snoConfig in a fresh temp dir. Returns an object shaped
 * like lib/relay.js's (port, app, logs(), stop()) plus kill(sig) and
 * restart() (same port, same config file; logs() keeps every run's stderr).
 */
async function startSnoRelay(hosts, opts = {}) {
  const port = opts.port || await freePort();
  const dir = opts.dir || tmpDir();
  const configFile = path.join(dir, 'relay.ini');
  fs.writeFileSync(configFile, snoConfig(port, hosts, opts));
  const r = {
    port, dir, configFile, hosts,
    app: METRICS_APP,
    apps: [METRICS_APP],
    runs: [],
    origin: `http://127.0.0.1:${port}`,
    logs: () => r.runs.map((x) => x.stderr).join('\n--- restart ---\n'),
    alive: () => !!(r.cur && !r.cur.exit),
    get pid() {
      return r.cur && r.cur.pid;
    },
    async start() {
      const deadline = Date.now() + bound(5000);
      for (;;) {
        r.cur = spawnDaemon(RELAY_BIN, ['-c', configFile], /relay ready/, 'relay');
        r.runs.push(r.cur);
        try {
          await r.cur.ready;
          return r;
        } catch (e) {
          // The old socket may linger a moment after a kill: retry a bind.
          if (Date.now() > deadline || !/bind|address|in use/i.test(e.message)) throw e;
          await sleep(200); // a pause between bind retries; the loop is the wait
        }
      }
    },
    kill: (sig = 'SIGKILL') => stopDaemon(r.cur, sig),
    stop: () => stopDaemon(r.cur),
    restart: async () => {
      await stopDaemon(r.cur);
      return r.start();
    },
  };
  await r.start();
  return r;
}

// This process's environment without proxy settings: an agent follows
// https_proxy/no_proxy (issue 11), and the tests' relays are on loopback.
function envWithoutProxies() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(https?|all|no)_proxy$/i.test(k)) delete env[k];
  }
  return env;
}

/*
 * Start sno-agent for host {name, key} against relayPort (or opts.url).
 * opts.key overrides the key written to the key file (a wrong key);
 * opts.ca_file, when given, is written as the agent's ca_file; opts.conf
 * is more [agent] lines; opts.env is added to the environment, which has
 * no proxy variables otherwise. Resolves after "agent ready"; .stderr grows
 * as the agent logs.
 */
async function startAgent(relayPort, host, opts = {}) {
  const dir = opts.dir || tmpDir();
  const keyFile = path.join(dir, `${host.name}.key`);
  fs.writeFileSync(keyFile, `${opts.key || host.key}\n`, { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600);
  const conf = path.join(dir, `agent-${host.name}.conf`);
  fs.writeFileSync(conf, '[agent]\n' +
    `relay_url = ${opts.url || `http://127.0.0.1:${relayPort}`}\n` +
    `host_id = ${host.name}\nkey_file = ${keyFile}\n` +
    `interval_ms = ${opts.interval_ms || 1000}\n` +
    `offline_buffer_s = ${opts.offline_buffer_s || 300}\n` +
    `top_processes = ${opts.top_processes || 5}\n` +
    (opts.ca_file ? `ca_file = ${opts.ca_file}\n` : '') + (opts.conf || ''));
  const a = spawnDaemon(AGENT_BIN, ['-c', conf], /agent ready/, 'agent', 10000,
    { ...envWithoutProxies(), ...(opts.env || {}) });
  a.conf = conf;
  a.stop = () => stopDaemon(a);
  await a.ready;
  return a;
}

// Hex HMAC-SHA256 signature of an agent API request.
function agentSignature(keyHex, method, reqPath, ts, body) {
  const bodyHash = crypto.createHash('sha256').update(body).digest('hex');
  return crypto.createHmac('sha256', Buffer.from(keyHex, 'hex'))
    .update(`${method}\n${reqPath}\n${ts}\n${bodyHash}`).digest('hex');
}

let lastTs = 0;
// Headers for a signed agent request (timestamps strictly rising here).
function agentHeaders(hostName, keyHex, reqPath, body, ts) {
  if (ts === undefined) {
    ts = Math.max(Date.now(), lastTs + 1);
    lastTs = ts;
  }
  return {
    'x-sno-host': hostName,
    'x-sno-timestamp': String(ts),
    'x-sno-signature': agentSignature(keyHex, 'POST', reqPath, String(ts), body),
  };
}

// A signed POST to the agent API; body is an object or text.
function agentPost(port, hostName, keyHex, reqPath, bodyObj, opts = {}) {
  const body = typeof bodyObj === 'string' ? bodyObj : JSON.stringify(bodyObj);
  const headers = opts.headers || agentHeaders(hostName, keyHex, reqPath, body, opts.ts);
  return request(port, 'POST', reqPath, body, headers).then((r) => ({ ...r, sent: headers }));
}

// The smallest sample the relay's validator accepts.
function makeSample(host, seq, extra = {}) {
  return {
    v: 1, host, seq, ts_ms: Date.now(), dt_ms: 1000,
    cpu: { n: 1 }, mem: { total: 1000, used: 500 }, tasks: { total: 1 },
    procs: [], ...extra,
  };
}

// ---- the dashboard API ----

// Logs in; resolves {status, json, cookie (name=value), setCookie, ms}.
async function login(relay, user, password, headers = {}) {
  const t0 = Date.now();
  const r = await request(relay.port, 'POST', '/api/v1/login',
    JSON.stringify({ user, password }), { origin: relay.origin, ...headers });
  const sc = [].concat(r.headers['set-cookie'] || []);
  const cookieLine = sc.find((c) => c.startsWith('sno_session=')) || '';
  return { ...r, ms: Date.now() - t0, setCookie: cookieLine,
    cookie: cookieLine.split(';')[0] };
}

// A login sent from another loopback source address (e.g. 127.0.0.3), so a
// test can run up failures for "an address" without locking out 127.0.0.1.
function loginFrom(relay, localAddress, user, password) {
  const http = require('node:http');
  const body = JSON.stringify({ user, password });
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: relay.port, method: 'POST',
      path: '/api/v1/login', localAddress, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        origin: relay.origin } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - t0 }));
    });
    req.on('error', reject);
    req.setTimeout(20000, () => req.destroy(new Error('login timed out')));
    req.end(body);
  });
}

// A dashboard API call with a cookie; POSTs carry the relay's own origin
// unless opts.origin says otherwise (null: no Origin header).
function api(relay, method, apiPath, opts = {}) {
  const headers = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  const origin = opts.origin === undefined ? (method === 'POST' ? relay.origin : undefined)
    : opts.origin;
  if (origin !== undefined && origin !== null) headers.origin = origin;
  let body = opts.body;
  if (opts.form) {
    body = new URLSearchParams(opts.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined && typeof body !== 'string') {
    body = JSON.stringify(body);
  }
  if (method === 'POST' && body === undefined) body = '';
  return request(relay.port, method, apiPath, body, { ...headers, ...(opts.headers || {}) });
}

/*
 * pusher-js client on the metrics app authorised the way the dashboard is:
 * its customHandler POSTs socket_id and channel_name to /api/v1/pusher/auth
 * with the user's cookie and the page's Origin. client.authAnswers records
 * each {status, body}. key: the metrics app's (sno.js's own by default).
 */
async function connectDashboardPusher(relay, cookie, timeoutMs = 5000, key = METRICS_APP.key) {
  const client = new PusherClient(key, {
    wsHost: '127.0.0.1',
    wsPort: relay.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    cluster: 'x',
    activityTimeout: 120000,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        api(relay, 'POST', '/api/v1/pusher/auth', { cookie,
          form: { socket_id: socketId, channel_name: channelName } })
          .then((r) => {
            client.authAnswers.push({ channel: channelName, status: r.status, body: r.body });
            if (r.status === 200 && r.json && r.json.auth) cb(null, r.json);
            else cb(new Error(`pusher/auth answered ${r.status}: ${r.body}`), null);
          }, (e) => cb(e, null));
      },
    },
  });
  client.received = [];
  client.authAnswers = [];
  client.connection.bind('message', (m) => client.received.push({ ...m, at: Date.now() }));
  try {
    await waitFor(() => client.connection.state === 'connected', timeoutMs,
      'pusher-js (dashboard auth) to reach connected');
  } catch (e) {
    client.disconnect();
    throw e;
  }
  return client;
}

// pusher-js client authorised with the SDK and the metrics app's secret.
function connectMetricsPusher(relay, opts = {}) {
  return connectPusher(relay, { app: METRICS_APP, ...opts });
}

// The `sample` events a client received on channel, as parsed objects.
function samplesOf(client, channel) {
  return messages(client, 'sample', channel).map((m) => ({
    ...(typeof m.data === 'string' ? JSON.parse(m.data) : m.data), _at: m.at }));
}

// Raw HTTP/1.1 request text over TCP, for paths a client would normalise.
// Resolves {status, headers (lower-cased), body, raw}.
function rawHttp(port, text, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    const timer = setTimeout(() => {
      sock.destroy();
      finish();
    }, timeoutMs);
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      const head = end < 0 ? raw : raw.slice(0, end);
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] || '');
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: m ? Number(m[1]) : 0, headers,
        body: end < 0 ? '' : raw.slice(end + 4), raw });
    }
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', (e) => {
      if (chunks.length) finish();
      else {
        clearTimeout(timer);
        done = true;
        reject(e);
      }
    });
  });
}

// GET target exactly as written (no normalisation), Connection: close.
function rawGet(port, target) {
  return rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    'Connection: close\r\n\r\n');
}

module.exports = {
  AGENT_BIN,
  METRICS_APP,
  hashPassword,
  newHost,
  snoConfig,
  startSnoRelay,
  startAgent,
  stopDaemon,
  agentSignature,
  agentHeaders,
  agentPost,
  makeSample,
  login,
  loginFrom,
  api,
  connectDashboardPusher,
  connectMetricsPusher,
  samplesOf,
  rawHttp,
  rawGet,
  envWithoutProxies,
};
