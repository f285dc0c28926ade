// The live process table: the latest sample's top processes, sortable by
// CPU, memory and the other columns, filterable by name, command, user or
// PID. Rows are kept per PID and updated in place so a hovered row keeps
// its tooltip (the full command line) while the numbers change.
import { h, setText } from './dom.js';
import { bytes } from './format.js';

const COLS = [
  { key: 'pid', label: 'PID', num: true },
  { key: 'user', label: 'User' },
  { key: 'state', label: 'S', title: 'State' },
  { key: 'cpu', label: 'CPU %', num: true, title: '% of one core' },
  { key: 'rss', label: 'Memory', num: true, title: 'Resident set size' },
  { key: 'thr', label: 'Thr', num: true, title: 'Threads' },
  { key: 'name', label: 'Name' },
  { key: 'cmd', label: 'Command' },
];

const show = {
  cpu: (v) => (v == null ? '–' : v.toFixed(1)),
  rss: (v) => bytes(v),
};

export class ProcTable {
  constructor() {
    this.sort = { key: 'cpu', desc: true };
    this.filter = '';
    this.rows = new Map();
    this.sample = null;
    this.ths = {};
    this.tbody = h('tbody');
    this.count = h('span', { class: 'muted' });
    this.input = h('input', {
      type: 'search', placeholder: 'Filter by name, command, user or PID',
      'aria-label': 'Filter processes',
      oninput: () => {
        this.filter = this.input.value.trim().toLowerCase();
        this.render();
      },
    });
    const head = h('tr', {}, COLS.map((c) => {
      const th = h('th', {
        class: `c-${c.key}${c.num ? ' num' : ''}`, title: c.title, scope: 'col',
        tabindex: 0, 'aria-sort': 'none',
        onclick: () => this.sortBy(c.key),
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.sortBy(c.key); } },
      }, c.label);
      this.ths[c.key] = th;
      return th;
    }));
    this.el = h('section', { class: 'card procs' },
      h('header', { class: 'card-head' },
        h('h3', {}, 'Processes'), this.count, h('span', { class: 'grow' }), this.input),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'proc-table' }, h('thead', {}, head), this.tbody)));
    this.markSort();
  }

  sortBy(key) {
    if (this.sort.key === key) this.sort.desc = !this.sort.desc;
    else this.sort = { key, desc: ['cpu', 'rss', 'thr'].includes(key) };
    this.markSort();
    this.render();
  }

  markSort() {
    for (const [k, th] of Object.entries(this.ths)) {
      const on = k === this.sort.key;
      th.classList.toggle('sorted', on);
      th.setAttribute('aria-sort', on ? (this.sort.desc ? 'descending' : 'ascending') : 'none');
      th.dataset.dir = on ? (this.sort.desc ? '▼' : '▲') : '';
    }
  }

  update(sample) {
    this.sample = sample;
    this.render();
  }

  records() {
    const s = this.sample;
    if (!s || !Array.isArray(s.procs)) return [];
    const f = Array.isArray(s.procs_fields) ? s.procs_fields : COLS.map((c) => c.key);
    const idx = Object.fromEntries(COLS.map((c) => [c.key, f.indexOf(c.key)]));
    return s.procs.filter(Array.isArray).map((r) => {
      const o = {};
      for (const c of COLS) o[c.key] = idx[c.key] >= 0 ? r[idx[c.key]] : null;
      return o;
    });
  }

  render() {
    const all = this.records();
    const q = this.filter;
    let list = q
      ? all.filter((p) => [p.name, p.cmd, p.user, p.pid].some((v) => v != null && String(v).toLowerCase().includes(q)))
      : all;
    const { key, desc } = this.sort;
    list = list.slice().sort((a, b) => {
      const x = a[key];
      const y = b[key];
      let c = typeof x === 'number' && typeof y === 'number'
        ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
      if (desc) c = -c;
      return c || (a.pid ?? 0) - (b.pid ?? 0);
    });
    const seen = new Set();
    const trs = list.map((p) => {
      const id = String(p.pid);
      seen.add(id);
      let tr = this.rows.get(id);
      if (!tr) {
        tr = h('tr', { dataset: { pid: id } }, COLS.map((c) => h('td', { class: `c-${c.key}${c.num ? ' num' : ''}` })));
        this.rows.set(id, tr);
      }
      tr.dataset.name = p.name ?? '';
      COLS.forEach((c, i) => {
        const v = p[c.key];
        setText(tr.children[i], show[c.key] ? show[c.key](v) : (v ?? ''));
      });
      const cmd = String(p.cmd || p.name || '');
      if (tr.title !== cmd) tr.title = cmd;
      tr.classList.toggle('busy', (p.cpu || 0) >= 50);
      return tr;
    });
    for (const id of [...this.rows.keys()]) if (!seen.has(id)) this.rows.delete(id);
    const cur = this.tbody.children;
    if (cur.length !== trs.length || trs.some((tr, i) => cur[i] !== tr)) this.tbody.replaceChildren(...trs);
    if (!trs.length) {
      this.tbody.replaceChildren(h('tr', { class: 'empty' },
        h('td', { colspan: COLS.length }, this.sample ? 'No process matches the filter.' : 'No data yet: press Realtime.')));
    }
    const total = this.sample && Number.isFinite(this.sample.procs_total) ? this.sample.procs_total : null;
    setText(this.count, this.sample
      ? `${list.length} shown · top ${all.length}${total != null ? ` of ${total}` : ''} by CPU`
      : '');
  }
}
