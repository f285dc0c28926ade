// Fleet view (#/fleet, the landing page): every host of the account on one
// table, live every second from the relay's `summary` event on
// private-fleet-{account} (subscribing is what makes every host stream;
// leaving lets them stop after the grace period). Rows are built once and
// updated in place; one requestAnimationFrame per summary applies the
// newest one (text only where it changed and only in rows in view, rows
// moved only when the order changed, 60-second CPU sparklines on small
// canvases). Only the rows in view and a margin are in the render tree.
import { h, setText } from '../dom.js';
import { api } from '../api.js';
import { connection } from '../live.js';
import { ago, bytes, num, pct, rate } from '../format.js';

const SPARK_N = 60;
const HOT = 90;
const SPARK_W = 120;
const SPARK_H = 24;
const ROW_H = 36; // px, as .frow in style.css
const WINDOW_MARGIN = 10; // rows rendered beyond the viewport, each side

function parse(d) {
  if (typeof d !== 'string') return d;
  try {
    return JSON.parse(d);
  } catch (e) {
    return null;
  }
}

const memPct = (x) => (x.mem_total > 0 && x.mem_used != null ? (100 * x.mem_used) / x.mem_total : null);

// Columns: key, title, value for sorting (null sorts last), numeric.
const COLS = [
  { key: 'id', title: 'Host', v: (x) => x.id, cls: 'c-name' },
  { key: 'online', title: 'Status', v: (x) => (x.online ? 1 : 0), cls: 'c-status' },
  { key: 'cpu', title: 'CPU', v: (x) => x.cpu, cls: 'c-cpu num' },
  { key: 'mem', title: 'Memory', v: memPct, cls: 'c-mem num' },
  { key: 'load1', title: 'Load', v: (x) => x.load1, cls: 'c-load num' },
  { key: 'net_rx', title: 'Net in', v: (x) => x.net_rx, cls: 'c-rx num' },
  { key: 'net_tx', title: 'Net out', v: (x) => x.net_tx, cls: 'c-tx num' },
  { key: 'disk_util', title: 'Disk', v: (x) => x.disk_util, cls: 'c-disk num' },
  { key: 'top', title: 'Top process', v: (x) => (x.top ? x.top.cpu : null), cls: 'c-top' },
];

function themeColors() {
  const cs = getComputedStyle(document.documentElement);
  return {
    line: cs.getPropertyValue('--accent').trim() || '#2563eb',
    hot: cs.getPropertyValue('--err').trim() || '#b91c1c',
    off: cs.getPropertyValue('--off').trim() || '#64748b',
    grid: cs.getPropertyValue('--grid').trim() || 'rgba(100,116,139,0.16)',
  };
}

export function fleetView(me) {
  const channelName = `private-fleet-${me.account}`;
  const rows = new Map(); // id -> row
  // Only the rows in view, and WINDOW_MARGIN rows either side, are in the
  // render tree (the others are hidden and keep their data): with 200 rows
  // the browser's per-frame layerize and paint grew with every row.
  const tbody = h('div', { role: 'rowgroup', class: 'fbody' });
  const filter = h('input', { type: 'search', placeholder: 'Filter by name', 'aria-label': 'Filter hosts by name' });
  const count = h('span', { class: 'muted fleet-count' });
  const status = h('span', { class: 'pill state', dataset: { state: 'connecting' } }, h('span', { class: 'dot' }), 'connecting');
  const banner = h('div', { class: 'banner', hidden: true });
  const note = h('p', { class: 'muted fleet-note' }, 'Loading hosts…');
  const heads = COLS.map((c) => h('div', { role: 'columnheader', class: `fh ${c.cls}`, tabindex: '0', dataset: { key: c.key },
    onclick: () => sortBy(c.key), onkeydown: (e) => { if (e.key === 'Enter') sortBy(c.key); } }, c.title));
  // Rows are blocks of fixed height with strict containment (a text change
  // relays out that row alone), placed absolutely by `top` (a new order
  // moves no node and only re-places rows; a transform per row cost more
  // in layerization) and content-visibility
  // (rows out of view are not rendered); a table would lay out every row.
  const table = h('div', { role: 'table', class: 'fleet-table', 'aria-label': 'Hosts' },
    h('div', { role: 'row', class: 'fhead' }, ...heads, h('div', { role: 'columnheader', class: 'fh c-spark' }, 'CPU 60 s')), tbody);
  const section = h('section', { class: 'card fleet', dataset: { loaded: 'false', count: '0', summaries: '0', sort: 'cpu', dir: 'desc' } },
    h('header', { class: 'card-head' }, h('h2', {}, 'Fleet'), count, h('span', { class: 'grow' }), status, filter),
    banner, table, note);
  let sort = { key: 'cpu', dir: -1 };
  let order = '';
  let pending = null;
  let raf = 0;
  let dead = false;
  let colors = themeColors();
  let channel = null;
  let pusher = null;
  let notStreaming = 0;
  let applied = 0;

  function rowFor(id) {
    let r = rows.get(id);
    if (r) return r;
    const href = `#/host/${encodeURIComponent(id)}`;
    const cells = {};
    const td = (cls, ...kids) => h('div', { role: 'cell', class: `fc ${cls}` }, ...kids);
    cells.name = td('c-name', h('a', { href }, id));
    cells.status = td('c-status');
    cells.cpu = td('c-cpu num');
    cells.mem = td('c-mem num');
    cells.load = td('c-load num');
    cells.rx = td('c-rx num');
    cells.tx = td('c-tx num');
    cells.disk = td('c-disk num');
    cells.topName = h('span', { class: 'top-name' });
    cells.topCpu = h('span', { class: 'top-cpu muted' });
    cells.top = td('c-top', cells.topName, ' ', cells.topCpu);
    const canvas = h('canvas', { width: SPARK_W * devicePixelRatio, height: SPARK_H * devicePixelRatio,
      style: `width:${SPARK_W}px;height:${SPARK_H}px` });
    cells.spark = td('c-spark', canvas);
    const tr = h('div', { role: 'row', class: 'frow', dataset: { host: id, online: 'false' }, tabindex: '0',
      onclick: (e) => { if (!e.target.closest('a')) location.hash = href; },
      onkeydown: (e) => { if (e.key === 'Enter') location.hash = href; } },
    cells.name, cells.status, cells.cpu, cells.mem, cells.load, cells.rx, cells.tx, cells.disk, cells.top, cells.spark);
    r = { id, tr, cells, canvas, x: { id, online: false }, spark: new Float32Array(SPARK_N).fill(NaN),
      head: 0, lastTs: 0, dirty: true, hot: {}, seen: false, at: -1 };
    r.pos = -1;
    tr.hidden = true;
    tbody.append(tr);
    rows.set(id, r);
    return r;
  }

  function pushCpu(r, ts, cpu) {
    if (ts <= r.lastTs) return;
    r.lastTs = ts;
    r.spark[r.head] = cpu == null ? NaN : cpu;
    r.head = (r.head + 1) % SPARK_N;
    r.dirty = true;
  }

  function hot(r, key, cell, on) {
    if (r.hot[key] === on) return;
    r.hot[key] = on;
    cell.classList.toggle('hot', on);
  }

  // Rows out of view keep their data and are painted when they come in.
  function paint(r, now) {
    if (!r.seen) return;
    const x = r.x;
    const c = r.cells;
    const on = !!x.online;
    if (r.tr.dataset.online !== String(on)) {
      r.tr.dataset.online = String(on);
      r.tr.classList.toggle('offline', !on);
    }
    setText(c.status, on ? (x.streaming === false ? 'online · paused' : 'online')
      : `offline · last seen ${ago(x.last_seen_ms, now)}`);
    const m = memPct(x);
    setText(c.cpu, pct(x.cpu));
    setText(c.mem, pct(m));
    c.mem.title = x.mem_total ? `${bytes(x.mem_used)} of ${bytes(x.mem_total)}` : '';
    setText(c.load, num(x.load1));
    setText(c.rx, rate(x.net_rx));
    setText(c.tx, rate(x.net_tx));
    setText(c.disk, pct(x.disk_util));
    setText(c.topName, x.top ? x.top.name : '–');
    setText(c.topCpu, x.top ? pct(x.top.cpu) : '');
    c.cpu.dataset.v = x.cpu == null ? '' : String(x.cpu);
    hot(r, 'cpu', c.cpu, on && x.cpu > HOT);
    hot(r, 'mem', c.mem, on && m > HOT);
    hot(r, 'disk', c.disk, on && x.disk_util > HOT);
  }

  function drawSpark(r) {
    if (!r.dirty || !r.seen) return;
    r.dirty = false;
    const cv = r.canvas;
    const g = cv.getContext('2d');
    const dpr = cv.width / SPARK_W;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, SPARK_W, SPARK_H);
    g.strokeStyle = colors.grid;
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(0, SPARK_H - 0.5);
    g.lineTo(SPARK_W, SPARK_H - 0.5);
    g.stroke();
    const step = SPARK_W / (SPARK_N - 1);
    let last = NaN;
    let first = -1;
    let end = -1;
    g.beginPath();
    let pen = false;
    for (let i = 0; i < SPARK_N; i++) {
      const v = r.spark[(r.head + i) % SPARK_N];
      if (Number.isNaN(v)) {
        pen = false;
        continue;
      }
      const y = SPARK_H - 1 - (Math.min(100, Math.max(0, v)) / 100) * (SPARK_H - 2);
      if (pen) g.lineTo(i * step, y);
      else g.moveTo(i * step, y);
      if (first < 0) first = i;
      end = i;
      pen = true;
      last = v;
    }
    const c = !r.x.online ? colors.off : last > HOT ? colors.hot : colors.line;
    g.strokeStyle = c;
    g.lineWidth = 1.5;
    g.stroke();
    if (first >= 0 && end > first) { // a faint area under a gap-free tail
      g.lineTo(end * step, SPARK_H);
      g.lineTo(first * step, SPARK_H);
      g.closePath();
      g.globalAlpha = 0.12;
      g.fillStyle = c;
      g.fill();
      g.globalAlpha = 1;
    }
  }

  function visible(r, f) {
    return !f || r.id.toLowerCase().includes(f);
  }

  function compare(a, b) {
    const col = COLS.find((c) => c.key === sort.key) || COLS[2];
    const va = col.v(a.x);
    const vb = col.v(b.x);
    if (va == null && vb == null) return a.id.localeCompare(b.id);
    if (va == null) return 1; // no value: last either way
    if (vb == null) return -1;
    const d = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
    return d !== 0 ? d * sort.dir : a.id.localeCompare(b.id);
  }

  let shown = []; // the filtered rows in sorted order

  // The rows of shown whose place is within the viewport (plus margin) are
  // in the render tree; a row coming in is painted then. top: the tbody's
  // viewport top, read by the caller before it wrote to the DOM.
  function place(top, now) {
    const first = Math.floor(-top / ROW_H) - WINDOW_MARGIN;
    const last = Math.ceil((innerHeight - top) / ROW_H) + WINDOW_MARGIN;
    shown.forEach((r, i) => {
      const on = i >= first && i <= last;
      if (on && r.at !== i) { // hidden rows are not re-placed (style recalc)
        r.at = i;
        r.tr.style.top = `${i * ROW_H}px`;
        r.tr.dataset.pos = String(i);
        r.tr.setAttribute('aria-rowindex', String(i + 2));
      }
      if (on === r.seen) return;
      r.seen = on;
      r.tr.hidden = !on;
      if (on) {
        r.dirty = true;
        paint(r, now);
        drawSpark(r);
      }
    });
  }

  // Shows the filtered rows in sorted order, moving rows only on a change.
  function arrange(top = tbody.getBoundingClientRect().top) {
    const f = filter.value.trim().toLowerCase();
    const list = [...rows.values()].filter((r) => visible(r, f)).sort(compare);
    const key = list.map((r) => r.id).join('\n');
    if (key !== order) { // re-place only the rows whose place changed
      order = key;
      const inList = new Set(list);
      for (const r of rows.values()) {
        if (!inList.has(r) && r.pos !== -1) {
          r.pos = -1;
          r.seen = false;
          r.tr.hidden = true;
        }
      }
      list.forEach((r, i) => { r.pos = i; }); // written when in view (place)
      tbody.style.height = `${list.length * ROW_H}px`;
      shown = list;
    }
    place(top, Date.now());
    section.dataset.count = String(list.length);
    setText(count, f ? `${list.length} of ${rows.size} hosts` : `${rows.size} hosts`);
    note.hidden = rows.size > 0;
    if (!rows.size) setText(note, 'No hosts in this account yet.');
  }

  let scrollRaf = 0;
  function onScroll() {
    if (scrollRaf) return;
    scrollRaf = requestAnimationFrame(() => {
      scrollRaf = 0;
      if (!dead) place(tbody.getBoundingClientRect().top, Date.now());
    });
  }

  function apply() {
    raf = 0;
    const s = pending;
    pending = null;
    if (!s || dead) return;
    const t0 = performance.now();
    const top = tbody.getBoundingClientRect().top; // read before the writes
    const now = Date.now();
    let stopped = 0;
    let online = 0;
    for (const x of s.hosts) {
      if (x.online) online++;
      const r = rowFor(x.id);
      r.x = x;
      pushCpu(r, s.ts_ms, x.online ? x.cpu : null);
      if (x.online && x.streaming === false) stopped++;
      paint(r, now);
      drawSpark(r);
    }
    arrange(top);
    applied++;
    section.dataset.summaries = String(applied);
    section.dataset.online = String(online);
    section.dataset.applyMs = String(Math.round(performance.now() - t0)); // for the bench
    section.dataset.loaded = 'true';
    // Online hosts not streaming while we watch: sessions hit the cap.
    notStreaming = stopped ? notStreaming + 1 : 0;
    if (notStreaming >= 3 && banner.hidden) {
      banner.replaceChildren(`${stopped} host${stopped > 1 ? 's' : ''} stopped streaming: the realtime session reached its time limit.`,
        h('button', { type: 'button', class: 'btn small primary', onclick: restart }, 'Continue'));
      banner.hidden = false;
    }
  }

  function onSummary(d) {
    const s = parse(d);
    if (!s || !Array.isArray(s.hosts)) return;
    pending = s;
    if (!raf) raf = requestAnimationFrame(apply);
  }

  function setState(st, label) {
    status.dataset.state = st;
    status.className = `pill state ${st === 'live' ? 'live' : st === 'error' ? 'warn' : ''}`;
    setText(status.lastChild, label);
  }

  function subscribe() {
    pusher = connection(me.app_key);
    channel = pusher.subscribe(channelName);
    channel.bind('summary', onSummary);
    channel.bind('pusher:subscription_succeeded', () => setState('live', 'live'));
    channel.bind('pusher:subscription_error', (e) => setState('error', `refused (${(e && e.status) || 'error'})`));
  }

  function unsubscribe() {
    if (!channel) return;
    channel.unbind_all();
    pusher.unsubscribe(channelName);
    channel = null;
  }

  function restart() {
    banner.hidden = true;
    notStreaming = 0;
    unsubscribe();
    subscribe();
  }

  function sortBy(key) {
    if (sort.key === key) sort.dir = -sort.dir;
    else sort = { key, dir: key === 'id' ? 1 : -1 };
    markSort();
    arrange();
  }

  function markSort() {
    const key = sort.key;
    section.dataset.sort = key;
    section.dataset.dir = sort.dir > 0 ? 'asc' : 'desc';
    for (const th of heads) {
      const on = th.dataset.key === key;
      th.classList.toggle('sorted', on);
      th.dataset.dir = on ? (sort.dir > 0 ? '▲' : '▼') : '';
      th.setAttribute('aria-sort', on ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  function redraw() {
    colors = themeColors();
    for (const r of rows.values()) {
      r.dirty = true;
      drawSpark(r);
    }
  }

  async function load() {
    try {
      const [list, hist] = await Promise.all([api.hosts(), api.fleetHistory(SPARK_N)]);
      if (dead) return;
      for (const x of list.hosts || []) {
        const r = rowFor(x.id);
        if (!r.x.seq) r.x = { id: x.id, online: x.online, last_seen_ms: x.last_seen_ms, streaming: x.streaming };
      }
      const sums = hist.summaries || [];
      for (const s of sums) {
        for (const x of s.hosts) pushCpu(rowFor(x.id), s.ts_ms, x.online ? x.cpu : null);
      }
      const now = Date.now();
      if (sums.length && !pending && !applied) {
        for (const x of sums[sums.length - 1].hosts) rowFor(x.id).x = x;
      }
      for (const r of rows.values()) {
        paint(r, now);
        drawSpark(r);
      }
      arrange();
      section.dataset.loaded = 'true';
    } catch (e) {
      if (dead || e.status === 401) return;
      setText(note, `Could not load the fleet: ${e.message}`);
      note.hidden = false;
    }
  }

  filter.addEventListener('input', () => arrange());
  window.addEventListener('sno-theme', redraw);
  window.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('resize', onScroll);
  markSort();
  load().then(() => { if (!dead) subscribe(); });

  return {
    el: h('main', { class: 'page fleet-page' }, section),
    destroy() {
      dead = true;
      if (raf) cancelAnimationFrame(raf);
      if (scrollRaf) cancelAnimationFrame(scrollRaf);
      window.removeEventListener('sno-theme', redraw);
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('resize', onScroll);
      unsubscribe();
    },
  };
}
