'use strict';
// Fleet benchmark of issue 13, acceptance 3 (docs/benchmarks.md, "Fleet
// view"): one sno-relay with 200 hosts of account acme, simulated here, and
// one fleet viewer: alice's #/fleet in headless Chromium. Each simulated
// host behaves as sno-agent does: it checks in (long poll) until the relay
// says stream, then posts one sample a second while the answers say stream,
// every request signed as common/sig.c signs (HMAC-SHA256 of method, path,
// timestamp and the body's SHA-256, with the host's key). The sample is a
// real one, `sno-agent --once` (top_processes 20), with host, seq, ts_ms and
// the figures of the summary varied per host and second. HOSTS_OFFLINE of
// the hosts never check in (offline rows). After every host streams and the
// page shows them all, the window of DUR s measures:
//   relay CPU     utime+stime of /proc/PID/stat, % of one core
//   summary       bytes of one summary (JSON) and of its websocket frame
//   longest task  the page's PerformanceObserver 'longtask' entries
// Every process started here is stopped by its PID.
//
// usage: node tests/bench/fleet.js   (env: B=build dir, HOSTS=200,
//        HOSTS_OFFLINE=5, DUR=30, SHOT=file.png: a screenshot at the end,
//        TRACE=1: a Chromium trace of the window, each long task attributed)
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '../..');
const B = process.env.B || 'build';
const RELAY = path.join(root, B, 'sno-relay');
const AGENT = path.join(root, B, 'sno-agent');
const WEB = path.join(root, 'web/dist');
const HOSTS = Number(process.env.HOSTS || 200);
const OFFLINE = Number(process.env.HOSTS_OFFLINE || 5);
const DUR = Number(process.env.DUR || 30);
const { chromium } = require(path.join(root, 'tests/browser/node_modules/playwright-core'));

const kids = [];
process.on('exit', () => {
  for (const k of kids) {
    try { process.kill(k.pid, 'SIGKILL'); } catch (_) { /* gone */ }
  }
});
for (const s of ['SIGINT', 'SIGTERM']) process.once(s, () => process.exit(1));

const TOP_NAMES = ['nginx', 'postgres', 'java', 'node', 'python3', 'redis-server', 'envoy',
  'gunicorn', 'mysqld', 'dockerd', 'kafka', 'etcd'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = require('node:net').createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: Infinity });
function post(port, p, body, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: p, agent: keepAlive,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

// One simulated host: common/sig.c's signature, agent.c's check-in loop.
class SimHost {
  constructor(port, id, keyHex, template, i) {
    Object.assign(this, { port, id, key: Buffer.from(keyHex, 'hex'), t: template, i });
    this.seq = Date.now();
    this.lastTs = 0;
    this.posted = 0;
    this.streaming = false;
    this.base = 5 + ((i * 37) % 90); // a CPU level of its own
    this.stop = false;
  }

  headers(p, body) {
    const ts = Math.max(Date.now(), this.lastTs + 1);
    this.lastTs = ts;
    const bh = crypto.createHash('sha256').update(body).digest('hex');
    const sig = crypto.createHmac('sha256', this.key).update(`POST\n${p}\n${ts}\n${bh}`).digest('hex');
    return { 'x-sno-host': this.id, 'x-sno-timestamp': String(ts), 'x-sno-signature': sig };
  }

  sample() {
    const s = JSON.parse(JSON.stringify(this.t));
    const busy = Math.max(0, Math.min(100, this.base + (Math.random() - 0.5) * 20));
    s.host = this.id;
    s.seq = ++this.seq;
    s.ts_ms = Date.now();
    s.cpu.pct = { ...s.cpu.pct, usr: +(busy * 0.7).toFixed(1), sys: +(busy * 0.3).toFixed(1),
      iow: 0, idle: +(100 - busy).toFixed(1) };
    s.mem.used = Math.round(s.mem.total * (0.2 + ((this.i * 13) % 75) / 100));
    s.load = [+(busy / 25).toFixed(2), 1, 1];
    for (const n of s.net || []) {
      n.rx_Bps = Math.round(Math.random() * 5e6);
      n.tx_Bps = Math.round(Math.random() * 1e6);
    }
    for (const d of s.disk || []) d.util = +(this.i % 17 === 0 ? 95 : Math.random() * 30).toFixed(1);
    if (s.procs && s.procs[0]) { // a top process of its own, as a fleet has
      s.procs[0][4] = +(busy * s.cpu.n * 0.8).toFixed(1);
      s.procs[0][7] = TOP_NAMES[this.i % TOP_NAMES.length];
    }
    return JSON.stringify([s]);
  }

  async run() {
    while (!this.stop) {
      try {
        if (!this.streaming) {
          const body = JSON.stringify({ host: this.id, version: 'bench', last_seq: this.seq });
          const r = await post(this.port, '/agent/v1/checkin', body,
            this.headers('/agent/v1/checkin', body), 70000);
          this.streaming = !!(r.json && r.json.stream);
          if (r.status !== 200) await sleep(1000); // back off as the agent does
          continue;
        }
        const t0 = Date.now();
        const body = this.sample();
        const r = await post(this.port, '/agent/v1/samples', body,
          this.headers('/agent/v1/samples', body), 10000);
        if (r.status === 200) this.posted++;
        else log(`# ${this.id}: samples answered ${r.status} ${r.text.slice(0, 200)}`);
        this.streaming = !!(r.json && r.json.stream);
        await sleep(Math.max(0, 1000 - (Date.now() - t0)));
      } catch (e) {
        if (!this.stop) await sleep(1000);
      }
    }
  }
}

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime, stime
}

async function main() {
  for (const f of [RELAY, AGENT, path.join(WEB, 'index.html')]) {
    if (!fs.existsSync(f)) throw new Error(`${f} missing: run make`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sno-bench-fleet-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const once = spawnSync(AGENT, ['--once'], { encoding: 'utf8', timeout: 20000 });
  if (once.status !== 0) throw new Error(`sno-agent --once: ${once.stderr}`);
  const template = JSON.parse(once.stdout);
  const pw = crypto.randomBytes(8).toString('hex');
  const hash = spawnSync(RELAY, ['hash-password'], { input: `${pw}\n`, encoding: 'utf8' }).stdout.trim();
  const hosts = [];
  for (let i = 0; i < HOSTS; i++) {
    hosts.push({ id: `node-${String(i + 1).padStart(3, '0')}`, key: crypto.randomBytes(32).toString('hex') });
  }
  const conf = ['[relay]', `listen = 127.0.0.1:${port}`, `web_root = ${WEB}`, 'host_app = sno',
    'session_grace_s = 5', 'history_seconds = 60', '', '[app sno]', 'id = sno', 'key = sno-key',
    `secret = ${crypto.randomBytes(16).toString('hex')}`, '', '[account acme]', 'title = Acme', '',
    '[user alice]', 'account = acme', `password_hash = ${hash}`, '',
    ...hosts.flatMap((h) => [`[host ${h.id}]`, 'account = acme', `key = ${h.key}`, ''])].join('\n');
  const confFile = path.join(tmp, 'relay.conf');
  fs.writeFileSync(confFile, conf, { mode: 0o600 });
  const relay = spawn(RELAY, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  kids.push(relay);
  let relayLog = '';
  relay.stderr.on('data', (d) => { relayLog += d; if (relayLog.length > 1e6) relayLog = relayLog.slice(-5e5); });
  for (let i = 0; !/relay ready/.test(relayLog); i++) {
    if (i > 200) throw new Error(`relay not ready:\n${relayLog}`);
    await sleep(50);
  }
  log(`# relay pid ${relay.pid}, ${HOSTS} hosts (${OFFLINE} offline), sample ${JSON.stringify(template).length} bytes`);
  const sims = hosts.slice(0, HOSTS - OFFLINE).map((h, i) => new SimHost(port, h.id, h.key, template, i));
  const running = sims.map((s) => s.run());

  const browser = await chromium.launch({ executablePath: process.env.SNO_CHROMIUM || '/usr/bin/chromium',
    headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  await page.addInitScript(() => {
    window.__tasks = [];
    window.__apply = [];
    new MutationObserver(() => {
      const f = document.querySelector('.fleet');
      if (f && f.dataset.applyMs) window.__apply.push(Number(f.dataset.applyMs));
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-apply-ms'] });
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__tasks.push({ t: e.startTime, d: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  // TRACE=1: a Chromium timeline trace of the window; each long task is
  // attributed to the trace events under it (script, style, layout, GC).
  const cdp = process.env.TRACE ? await page.context().newCDPSession(page) : null;
  const traceEv = [];
  if (cdp) {
    cdp.on('Tracing.dataCollected', (d) => { for (const e of d.value) traceEv.push(e); });
  }
  await page.goto(`${base}/#/fleet`);
  await page.fill('#login-user', 'alice');
  await page.fill('#login-password', pw);
  const tOpen = Date.now();
  await page.click('.login-card button[type=submit]');
  await page.waitForSelector('.fleet[data-loaded="true"]', { timeout: 30000 });
  // Every simulated host streams, and the page shows them all online.
  await page.waitForFunction((n) => Number(document.querySelector('.fleet').dataset.online) >= n &&
    document.querySelectorAll('.fleet-table .frow').length >= n,
    HOSTS - OFFLINE, { timeout: 60000, polling: 200 });
  log(`# all ${HOSTS - OFFLINE} hosts online on the page ${Date.now() - tOpen} ms after login`);
  await sleep(3000); // let the first seconds of streaming settle before the window
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const s0 = Number(await page.getAttribute('.fleet', 'data-summaries'));
  const posted0 = sims.reduce((a, s) => a + s.posted, 0);
  const tick = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  const c0 = cpuTicks(relay.pid);
  const w0 = Date.now();
  const pageT0 = await page.evaluate(() => performance.now());
  if (cdp) await cdp.send('Tracing.start', { categories: 'devtools.timeline,v8,disabled-by-default-devtools.timeline,disabled-by-default-v8.gc', transferMode: 'ReportEvents' });
  await sleep(DUR * 1000); // the measuring window
  const c1 = cpuTicks(relay.pid);
  const w1 = Date.now();
  if (cdp) {
    const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
    await cdp.send('Tracing.end');
    await done;
    const runs = traceEv.filter((e) => e.ph === 'X' && e.name === 'RunTask' && e.dur > 50000);
    for (const t of runs) {
      const by = new Map();
      for (const e of traceEv) {
        if (e.ph !== 'X' || e.pid !== t.pid || e.tid !== t.tid || e === t) continue;
        if (e.ts < t.ts || e.ts + (e.dur || 0) > t.ts + t.dur) continue;
        by.set(e.name, (by.get(e.name) || 0) + (e.dur || 0));
      }
      const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 8)
        .map(([n, d]) => `${n} ${(d / 1000).toFixed(1)}`).join(', ');
      log(`# trace: task ${(t.dur / 1000).toFixed(0)} ms: ${top}`);
    }
    log(`# trace: ${runs.length} tasks over 50 ms on any thread`);
  }
  const posted1 = sims.reduce((a, s) => a + s.posted, 0);
  const s1 = Number(await page.getAttribute('.fleet', 'data-summaries'));
  const tasks = await page.evaluate((t0) => window.__tasks.filter((x) => x.t >= t0), pageT0);
  const applies = await page.evaluate(() => window.__apply.slice(-60));
  const opening = await page.evaluate((t0) => window.__tasks.filter((x) => x.t < t0), pageT0);
  log(`# long tasks while opening (login to window, ms): ${opening.map((x) => Math.round(x.d)).join(' ') || 'none'}`);
  log(`# long tasks in the window (ms): ${tasks.map((x) => Math.round(x.d)).join(' ') || 'none'}`);
  log(`# summary apply times, last ${applies.length} (ms): ${applies.join(' ')}`);
  const hist = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/api/v1/fleet/history?seconds=5', headers: { cookie } }, (res) => {
      const ch = [];
      res.on('data', (c) => ch.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(ch).toString('utf8'))));
    }).on('error', reject);
  });
  if (process.env.SHOT) {
    await page.screenshot({ path: process.env.SHOT, clip: { x: 0, y: 0, width: 1366, height: 640 } });
  }
  const last = hist.summaries[hist.summaries.length - 1];
  const json = JSON.stringify(last);
  const frame = JSON.stringify({ event: 'summary', channel: 'private-fleet-acme', data: json });
  const cpu = (100 * (c1 - c0)) / tick / ((w1 - w0) / 1000);
  const longest = tasks.reduce((m, x) => Math.max(m, x.d), 0);
  log(`# window ${((w1 - w0) / 1000).toFixed(1)} s: ${posted1 - posted0} samples posted ` +
    `(${((posted1 - posted0) / ((w1 - w0) / 1000)).toFixed(1)}/s), ${s1 - s0} summaries drawn`);
  log(`relay_cpu_pct_of_one_core ${cpu.toFixed(1)}`);
  log(`summary_hosts ${last.hosts.length}`);
  log(`summary_json_bytes ${json.length}`);
  log(`summary_frame_bytes ${frame.length}`);
  log(`page_long_tasks ${tasks.length}`);
  log(`page_longest_task_ms ${Math.round(longest)}`);
  log(`page_open_long_tasks ${opening.length}`);
  log(`page_open_longest_task_ms ${Math.round(opening.reduce((m, x) => Math.max(m, x.d), 0))}`);
  for (const s of sims) s.stop = true;
  await browser.close();
  try { process.kill(relay.pid, 'SIGTERM'); } catch (_) { /* gone */ }
  await Promise.race([Promise.allSettled(running), sleep(3000)]);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => {
  log(`bench-fleet failed: ${e.stack || e}`);
  process.exit(1);
});
