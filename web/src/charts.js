// The host page's charts: what each one draws (from sample format v1, see
// docs/sample-format.md) and a small wrapper around uPlot that rebuilds the
// plot when its series change (a new core, interface or disk; a theme
// change) and otherwise only swaps the data.
import uPlot from 'uplot';
import { bytes, num } from './format.js';

const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6',
  '#06b6d4', '#ec4899', '#84cc16', '#f97316', '#64748b', '#14b8a6', '#a855f7'];

const CPU_KINDS = [
  ['usr', 'user', '#3b82f6'], ['nic', 'nice', '#06b6d4'],
  ['sys', 'system', '#ef4444'], ['iow', 'iowait', '#f59e0b'],
  ['irq', 'irq', '#8b5cf6'], ['sirq', 'softirq', '#ec4899'],
  ['stl', 'steal', '#64748b'], ['gst', 'guest', '#10b981'],
];

// Tick steps in powers of two for byte axes (1 KiB, 2 KiB, 4 KiB, ...).
const BIN_INCRS = [];
for (let k = 0; k < 6; k++) {
  for (const m of [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]) {
    BIN_INCRS.push(m * 1024 ** k);
  }
}

const fmtPct = (v) => (v == null ? '–' : v.toFixed(1) + '%');
const FORMATS = {
  pct: { value: fmtPct, tick: (v) => v + '%' },
  bytes: { value: (v) => bytes(v), tick: (v) => bytes(v, 0), incrs: BIN_INCRS },
  Bps: { value: (v) => (v == null ? '–' : bytes(v) + '/s'), tick: (v) => bytes(v, 0) + '/s', incrs: BIN_INCRS },
  num: { value: (v) => num(v), tick: (v) => String(+v.toFixed(2)) },
};

const field = (fields, name, dflt) => {
  const i = Array.isArray(fields) ? fields.indexOf(name) : -1;
  return i >= 0 ? i : dflt;
};
const find = (list, key, name) =>
  (Array.isArray(list) ? list.find((r) => r && r[key] === name) : null) || {};

// Each definition turns the latest sample into a list of series:
// {label, color, get(sample) -> number|null, dash?, fill?, scale?}.
export const CHARTS = [
  {
    id: 'cpu', title: 'CPU by kind', unit: 'pct', max: 100, stack: true,
    series: () => CPU_KINDS.map(([k, label, color]) => ({
      label, color, fill: true, get: (s) => s.cpu.pct[k],
    })),
  },
  {
    id: 'cores', title: 'CPU per core (busy)', unit: 'pct', max: 100,
    series: (s) => {
      const cores = (s.cpu && s.cpu.cores) || [];
      const bi = field(s.cpu && s.cpu.cores_fields, 'busy', 3);
      return cores.map((_, i) => ({
        label: `cpu${i}`, color: PALETTE[i % PALETTE.length],
        get: (x) => x.cpu.cores[i][bi],
      }));
    },
  },
  {
    id: 'mem', title: 'Memory and swap', unit: 'bytes',
    series: () => [
      { label: 'used', color: '#3b82f6', fill: true, get: (s) => s.mem.used },
      { label: 'cache', color: '#f59e0b', get: (s) => (s.mem.cached ?? 0) + (s.mem.buffers ?? 0) },
      { label: 'available', color: '#10b981', get: (s) => s.mem.avail },
      { label: 'swap used', color: '#ef4444', dash: [4, 3], get: (s) => s.swap.used },
    ],
  },
  {
    id: 'load', title: 'Load average', unit: 'num',
    series: () => [
      { label: '1 min', color: '#3b82f6', get: (s) => s.load[0] },
      { label: '5 min', color: '#8b5cf6', get: (s) => s.load[1] },
      { label: '15 min', color: '#64748b', get: (s) => s.load[2] },
    ],
  },
  {
    id: 'net', title: 'Network', unit: 'Bps',
    series: (s) => (Array.isArray(s.net) ? s.net : []).flatMap((n, i) => [
      { label: `${n.if} rx`, color: PALETTE[(2 * i) % PALETTE.length], get: (x) => find(x.net, 'if', n.if).rx_Bps },
      { label: `${n.if} tx`, color: PALETTE[(2 * i + 1) % PALETTE.length], dash: [4, 3], get: (x) => find(x.net, 'if', n.if).tx_Bps },
    ]),
  },
  {
    id: 'disk', title: 'Disk', unit: 'Bps', right: 'pct',
    series: (s) => (Array.isArray(s.disk) ? s.disk : []).flatMap((d, i) => [
      { label: `${d.dev} read`, color: PALETTE[(3 * i) % PALETTE.length], get: (x) => find(x.disk, 'dev', d.dev).r_Bps },
      { label: `${d.dev} write`, color: PALETTE[(3 * i + 1) % PALETTE.length], get: (x) => find(x.disk, 'dev', d.dev).w_Bps },
      { label: `${d.dev} util`, color: PALETTE[(3 * i + 2) % PALETTE.length], dash: [2, 3], scale: 'pct', get: (x) => find(x.disk, 'dev', d.dev).util },
    ]),
  },
];

const pad = (n) => String(n).padStart(2, '0');
function timeTick(v, incr) {
  const d = new Date(v * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return incr < 60 ? `${hm}:${pad(d.getSeconds())}` : hm;
}

function themeColors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (name, d) => cs.getPropertyValue(name).trim() || d;
  return {
    axis: v('--muted', '#64748b'),
    grid: v('--grid', 'rgba(100,116,139,0.15)'),
    font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  };
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
}

export class Chart {
  constructor(def, plotEl) {
    this.def = def;
    this.el = plotEl;
    this.u = null;
    this.sig = '';
    this.series = [];
    this.raw = null;
    this.xMin = 0;
    this.xMax = 1;
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(plotEl);
  }

  size() {
    return { width: Math.max(200, this.el.clientWidth), height: 170 };
  }

  resize() {
    if (!this.u) return;
    const { width, height } = this.size();
    if (width !== this.u.width || height !== this.u.height) this.u.setSize({ width, height });
  }

  // Rebuild the plot when the latest sample implies different series.
  ensure(sample) {
    let series = [];
    try {
      series = sample ? this.def.series(sample) : [];
    } catch (e) {
      series = [];
    }
    const sig = series.map((s) => s.label).join('|');
    if (this.u && sig === this.sig) return;
    this.sig = sig;
    this.series = series;
    this.build();
  }

  build() {
    if (this.u) this.u.destroy();
    this.u = null;
    const def = this.def;
    const c = themeColors();
    const fmt = FORMATS[def.unit];
    const axis = (extra) => ({
      stroke: c.axis, font: c.font, size: 64, gap: 4,
      grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1, size: 4 },
      ...extra,
    });
    const rawValue = (f) => (u, v, si, i) => {
      const raw = this.raw && this.raw[si] ? this.raw[si][i] : v;
      return f.value(raw === undefined ? v : raw);
    };
    // With the pointer off the plot the legend shows the newest values.
    const showLast = (u) => {
      const n = u.data[0].length;
      if (u.cursor.idx == null && n) u.setLegend({ idx: n - 1 });
    };
    const opts = {
      ...this.size(),
      hooks: { setCursor: [showLast], setData: [showLast] },
      pxAlign: 1,
      padding: [10, def.right ? 4 : 16, 0, 0],
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      legend: { show: this.series.length <= 16, live: true },
      scales: {
        x: { time: true, range: () => [this.xMin, this.xMax] },
        y: def.max
          ? { range: [0, def.max] }
          : { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
        pct: { range: [0, 100] },
      },
      axes: [
        axis({ size: 24, space: 64, values: (u, sp, ai, space, incr) => sp.map((v) => timeTick(v, incr)) }),
        axis({ values: (u, sp) => sp.map(fmt.tick), incrs: fmt.incrs }),
      ],
      series: [
        { label: 'time', value: (u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString()) },
        ...this.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          dash: s.dash,
          scale: s.scale || 'y',
          fill: s.fill ? alpha(s.color, def.stack ? 0.55 : 0.12) : undefined,
          points: { show: false },
          spanGaps: false,
          value: rawValue(s.scale === 'pct' ? FORMATS.pct : fmt),
        })),
      ],
    };
    if (def.right && this.series.some((s) => s.scale === 'pct')) {
      opts.axes.push(axis({ scale: 'pct', side: 1, size: 44, grid: { show: false },
        values: (u, sp) => sp.map(FORMATS.pct.tick) }));
    }
    if (def.stack) {
      opts.bands = this.series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] }));
    }
    this.u = new uPlot(opts, [[]].concat(this.series.map(() => [])), this.el);
  }

  // data: uPlot columns (unstacked); the chart stacks them if its kind says so.
  setData(data, xMin, xMax) {
    this.xMin = xMin;
    this.xMax = xMax;
    this.raw = data;
    let shown = data;
    if (this.def.stack) {
      shown = [data[0]];
      let acc = null;
      for (let i = 1; i < data.length; i++) {
        acc = data[i].map((v, j) => (v == null || (acc && acc[j] == null) ? null : v + (acc ? acc[j] : 0)));
        shown.push(acc);
      }
    }
    if (this.u) this.u.setData(shown);
  }

  getters() {
    return this.series.map((s) => s.get);
  }

  destroy() {
    this.ro.disconnect();
    if (this.u) this.u.destroy();
    this.u = null;
  }
}
