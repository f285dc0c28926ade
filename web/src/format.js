// Number formatting for axes, legends, tiles and the process table.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n, digits = 1) {
  if (n == null || !Number.isFinite(n)) return '–';
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : digits);
  return (n < 0 ? '-' : '') + s + ' ' + UNITS[i];
}

export function rate(n) {
  return n == null || !Number.isFinite(n) ? '–' : bytes(n) + '/s';
}

export function pct(n, digits = 1) {
  return n == null || !Number.isFinite(n) ? '–' : n.toFixed(digits) + '%';
}

export function num(n, digits = 2) {
  return n == null || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

// "3 s ago", "4 min ago", "2 h ago", "5 d ago"; "never" for 0/null.
export function ago(ms, now = Date.now()) {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(s) {
  if (s == null || !Number.isFinite(s)) return '–';
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${hh}h`;
  if (hh > 0) return `${hh}h ${mm}m`;
  return `${mm}m ${s % 60}s`;
}

export function clock(s) {
  s = Math.max(0, Math.round(s));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
