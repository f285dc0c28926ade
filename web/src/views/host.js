// Host page: summary tiles, the charts and the process table for one host.
// Realtime subscribes to private-host-{id} (which starts the agent), loads
// the history ring so the charts are full at once, then appends live
// samples merged by seq. Pause freezes the drawing, not the data.
import { h, setText } from '../dom.js';
import { api } from '../api.js';
import { HostStream, connectionState, onConnectionState } from '../live.js';
import { SampleStore, columns } from '../store.js';
import { CHARTS, Chart } from '../charts.js';
import { ProcTable } from '../procs.js';
import { bytes, pct, num, duration, clock } from '../format.js';

const WINDOWS = [[60e3, '1 min'], [300e3, '5 min'], [600e3, '10 min']];
const STALE_MS = 5000;

function savedWindow() {
  const v = Number(localStorage.getItem('sno.window'));
  return WINDOWS.some(([ms]) => ms === v) ? v : 60e3;
}

export function hostView(hostId, me) {
  const store = new SampleStore();
  const procs = new ProcTable();
  let windowMs = savedWindow();
  let paused = false;
  let pausedAt = null; // the newest sample when Pause was pressed
  let wanted = false; // the user pressed Realtime and has not stopped
  let stream = null;
  let session = null; // last `session` event
  let subError = 0;
  let livePoints = 0;
  let lastLiveAt = 0; // browser clock when the last live sample came in
  let dirty = false;
  let dead = false;
  let hostInfo = null;

  // Header: name, state, controls.
  const pill = h('span', { class: 'pill off state', dataset: { state: 'stopped' } }, h('span', { class: 'dot' }), h('span', { class: 'label' }, 'Stopped'));
  const lastEl = h('span', { class: 'muted last-sample' });
  const endsEl = h('span', { class: 'muted ends' });
  const hostStatus = h('span', { class: 'muted host-status' });
  const winBtns = WINDOWS.map(([ms, label]) => h('button', {
    type: 'button', class: 'seg', 'aria-pressed': String(ms === windowMs),
    onclick: () => setWindow(ms),
  }, label));
  const pauseBtn = h('button', { type: 'button', class: 'btn', onclick: togglePause }, 'Pause');
  const rtBtn = h('button', { type: 'button', class: 'btn primary realtime', onclick: toggleRealtime }, 'Realtime');
  const banner = h('div', { class: 'banner', role: 'status', hidden: true });

  const head = h('section', { class: 'host-head' },
    h('div', { class: 'title' },
      h('a', { href: '#/', class: 'back', title: 'All hosts' }, '←'),
      h('h2', {}, hostId), hostStatus),
    h('div', { class: 'status' }, pill, lastEl, endsEl),
    h('span', { class: 'grow' }),
    h('div', { class: 'controls' },
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time window' }, winBtns),
      pauseBtn, rtBtn));

  // Summary tiles.
  const tiles = {};
  const tile = (key, label) => {
    const v = h('div', { class: 'tile-value' }, '–');
    const sub = h('div', { class: 'tile-sub muted' }, '');
    tiles[key] = { v, sub };
    return h('div', { class: 'tile', dataset: { tile: key } }, h('div', { class: 'tile-label' }, label), v, sub);
  };
  const tilesEl = h('section', { class: 'tiles' },
    tile('cpu', 'CPU busy'), tile('mem', 'Memory used'), tile('swap', 'Swap used'),
    tile('load', 'Load'), tile('tasks', 'Tasks'), tile('uptime', 'Uptime'));

  // Charts.
  const charts = CHARTS.map((def) => {
    const plot = h('div', { class: 'plot' });
    const card = h('section', { class: 'card chart', dataset: { chart: def.id } },
      h('header', { class: 'card-head' }, h('h3', {}, def.title)), plot);
    if (def.id === 'cpu') card.dataset.livePoints = '0';
    const c = new Chart(def, plot);
    c.card = card;
    return c;
  });
  const cpuCard = charts[0].card;
  const grid = h('section', { class: 'charts' }, charts.map((c) => c.card));

  const el = h('main', { class: 'page host-page', dataset: { host: hostId } },
    head, banner, tilesEl, grid, procs.el);

  function setWindow(ms) {
    windowMs = ms;
    localStorage.setItem('sno.window', String(ms));
    winBtns.forEach((b, i) => b.setAttribute('aria-pressed', String(WINDOWS[i][0] === ms)));
    draw();
  }

  function togglePause() {
    paused = !paused;
    pausedAt = paused ? store.last : null;
    setText(pauseBtn, paused ? 'Resume' : 'Pause');
    pauseBtn.classList.toggle('active', paused);
    el.classList.toggle('paused', paused);
    draw();
    tick();
  }

  function toggleRealtime() {
    if (wanted) stopRealtime();
    else startRealtime();
  }

  function startRealtime() {
    if (!me.app_key) {
      showBanner('The relay did not give this page a realtime key.', null);
      return;
    }
    wanted = true;
    session = null;
    subError = 0;
    livePoints = 0;
    cpuCard.dataset.livePoints = '0';
    hideBanner();
    if (!stream) {
      stream = new HostStream(me.app_key, hostId, {
        sample: onLive,
        session: onSession,
        subscribed: () => loadHistory(store.lastSeq),
        error: (status) => {
          // The login expired (or the relay restarted): /me says so and the
          // router goes back to the login page.
          if (status === 401) api.me().catch(() => {});
          subError = status || -1;
          showBanner(status === 403 ? 'You are not allowed to watch this host.'
            : `The relay refused the subscription (${status || 'error'}).`, 'Retry');
          tick();
        },
      });
    }
    stream.start();
    loadHistory(0);
    setText(rtBtn, 'Stop');
    rtBtn.classList.remove('primary');
    tick();
  }

  function stopRealtime() {
    wanted = false;
    if (stream) stream.stop();
    setText(rtBtn, 'Realtime');
    rtBtn.classList.add('primary');
    setText(endsEl, '');
    tick();
  }

  function showBanner(text, action) {
    banner.replaceChildren(h('span', {}, text),
      action ? h('button', { type: 'button', class: 'btn primary small', onclick: continueSession }, action) : null);
    banner.hidden = false;
  }

  function hideBanner() {
    banner.hidden = true;
    banner.replaceChildren();
  }

  function continueSession() {
    hideBanner();
    session = null;
    subError = 0;
    if (!wanted || !stream) {
      startRealtime();
      return;
    }
    stream.restart();
    loadHistory(store.lastSeq);
    tick();
  }

  function onLive(s) {
    if (!wanted || (s.host && s.host !== hostId)) return;
    if (store.add(s)) {
      livePoints++;
      cpuCard.dataset.livePoints = String(livePoints);
      cpuCard.dataset.liveSeq = String(s.seq); // test hook: last live seq
      lastLiveAt = Date.now();
      // A sample never ends a stopped session: the relay still publishes
      // the one the agent posts after the cap stopped it. A new session is
      // a `session` "streaming" event, or Continue.
      schedule();
      tick();
    }
  }

  function onSession(info) {
    session = info;
    if (info.state === 'stopped') {
      if (info.reason === 'cap') showBanner('This realtime session reached its time limit.', 'Continue');
      else if (info.reason === 'agent_offline') showBanner('The agent is offline, so the session stopped.', 'Retry');
      else showBanner('The realtime session stopped.', 'Continue');
    } else {
      hideBanner();
    }
    tick();
  }

  async function loadHistory(since) {
    try {
      const r = await api.history(hostId, since);
      if (dead) return;
      let added = 0;
      for (const s of Array.isArray(r.samples) ? r.samples : []) if (store.add(s)) added++;
      if (added) schedule();
    } catch (e) {
      if (dead || e.status === 401) return;
      if (e.status === 403 || e.status === 404) {
        setText(hostStatus, e.status === 404 ? 'unknown host' : 'not in your account');
      }
    }
  }

  async function loadHost() {
    try {
      const r = await api.hosts();
      if (dead) return;
      hostInfo = (r.hosts || []).find((x) => x.id === hostId) || null;
      setText(hostStatus, hostInfo ? (hostInfo.online ? 'agent online' : 'agent offline') : 'unknown host');
      hostStatus.className = `host-status ${hostInfo && hostInfo.online ? 'ok-text' : 'muted'}`;
    } catch (e) {
      /* shown elsewhere */
    }
  }

  function schedule() {
    if (dirty || paused) return;
    dirty = true;
    requestAnimationFrame(() => {
      dirty = false;
      if (!dead && !paused) draw();
    });
    tick();
  }

  function draw() {
    const last = (paused && pausedAt) || store.last;
    const endMs = last ? last.ts_ms : Date.now();
    const rows = store.window(windowMs, endMs);
    for (const c of charts) {
      c.ensure(last);
      c.setData(columns(rows, c.getters()), (endMs - windowMs) / 1000, endMs / 1000);
    }
    // Test hook next to data-live-points: samples the CPU plot now holds.
    cpuCard.dataset.drawnPoints = String(rows.length);
    drawTiles(last);
    procs.update(last);
  }

  function drawTiles(s) {
    const T = (k, v, sub) => {
      setText(tiles[k].v, v);
      setText(tiles[k].sub, sub);
    };
    if (!s) return;
    const c = s.cpu || {};
    const p = c.pct || {};
    // Busy as the per-core rows and the fleet page count it: not idle and
    // not waiting for I/O.
    T('cpu', pct(p.idle != null ? 100 - p.idle - (p.iow || 0) : null), c.n ? `${c.n} cores` : '');
    const m = s.mem || {};
    T('mem', bytes(m.used), m.total ? `of ${bytes(m.total)} · ${pct(100 * m.used / m.total, 0)}` : '');
    const sw = s.swap || {};
    T('swap', sw.total ? bytes(sw.used) : 'none', sw.total ? `of ${bytes(sw.total)}` : '');
    const l = Array.isArray(s.load) ? s.load : [];
    T('load', num(l[0]), l.length >= 3 ? `${num(l[1])} · ${num(l[2])}` : '');
    const t = s.tasks || {};
    T('tasks', t.total ?? s.procs_total ?? '–', t.running != null ? `${t.running} running · ${t.threads ?? '–'} threads` : '');
    T('uptime', duration(s.uptime_s), new Date(s.ts_ms).toLocaleTimeString());
  }

  // Connection state and "last sample N s ago", once a second.
  function tick() {
    const now = Date.now();
    const conn = connectionState();
    let state;
    let label;
    if (!wanted) {
      state = 'stopped';
      label = 'Stopped';
    } else if (subError) {
      state = 'stopped';
      label = 'Refused';
    } else if (session && session.state === 'stopped') {
      state = 'stopped';
      label = session.reason === 'cap' ? 'Stopped · limit reached' : 'Stopped';
    } else if (conn !== 'connected') {
      state = 'reconnecting';
      label = conn === 'connecting' && !lastLiveAt ? 'Connecting…' : 'Reconnecting…';
    } else if (lastLiveAt && now - lastLiveAt < STALE_MS) {
      state = 'live';
      label = paused ? 'Live · paused' : 'Live';
    } else {
      // The relay starts a session even for an agent that is not checking
      // in; the host list says whether it is.
      state = 'waiting';
      label = hostInfo && !hostInfo.online ? 'Agent offline' : lastLiveAt ? 'No data…' : 'Starting…';
    }
    pill.dataset.state = state;
    pill.className = `pill state ${{ live: 'live', reconnecting: 'warn', waiting: 'warn', stopped: 'off' }[state]}`;
    setText(pill.querySelector('.label'), label);
    const last = store.last;
    const at = lastLiveAt || (last ? last.ts_ms : 0);
    setText(lastEl, at ? `last sample ${Math.max(0, Math.round((now - at) / 1000))} s ago` : 'no samples yet');
    const ends = session && session.state === 'streaming' && session.ends_ms;
    const showEnds = (state === 'live' || state === 'waiting') && ends && ends > now;
    setText(endsEl, showEnds ? `· session ends in ${clock((ends - now) / 1000)}` : '');
  }

  const ticker = setInterval(tick, 1000);
  const hostPoll = setInterval(loadHost, 10000);
  const offConn = onConnectionState(() => tick());
  const onTheme = () => {
    for (const c of charts) c.sig = '';
    draw();
  };
  window.addEventListener('sno-theme', onTheme);
  const onVisible = () => {
    if (!document.hidden && !paused) draw();
  };
  document.addEventListener('visibilitychange', onVisible);

  loadHost();
  loadHistory(0);
  procs.update(null);
  tick();
  requestAnimationFrame(() => draw());

  return {
    el,
    destroy() {
      dead = true;
      clearInterval(ticker);
      clearInterval(hostPoll);
      offConn();
      window.removeEventListener('sno-theme', onTheme);
      document.removeEventListener('visibilitychange', onVisible);
      if (stream) stream.stop();
      for (const c of charts) c.destroy();
    },
  };
}
