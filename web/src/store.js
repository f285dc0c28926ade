// Samples of one host, kept sorted by seq with no duplicates, trimmed to
// the longest chart window. History and live events both go through add(),
// so their order of arrival does not matter. columns() turns the samples in
// a time window into uPlot data, with a null row wherever seq jumps or time
// jumps, so a gap is drawn as a gap and never interpolated.

export const KEEP_MS = 10 * 60 * 1000 + 60 * 1000;

export class SampleStore {
  constructor() {
    this.samples = [];
  }

  clear() {
    this.samples = [];
  }

  get last() {
    return this.samples[this.samples.length - 1] || null;
  }

  get lastSeq() {
    return this.last ? this.last.seq : 0;
  }

  // Returns true when s was new (not a duplicate, not malformed).
  add(s) {
    if (!s || typeof s !== 'object' || !Number.isFinite(s.seq) ||
        !Number.isFinite(s.ts_ms)) return false;
    const a = this.samples;
    const last = a[a.length - 1];
    if (!last || s.seq > last.seq) {
      a.push(s);
    } else if (s.ts_ms > last.ts_ms + 5000 && s.seq < last.seq) {
      // The agent restarted and counts from 1 again: start over.
      this.samples = [s];
      return true;
    } else {
      let lo = 0;
      let hi = a.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (a[mid].seq < s.seq) lo = mid + 1;
        else hi = mid;
      }
      if (lo < a.length && a[lo].seq === s.seq) return false;
      a.splice(lo, 0, s);
    }
    this.trim();
    return true;
  }

  trim() {
    const a = this.samples;
    const cut = a[a.length - 1].ts_ms - KEEP_MS;
    let i = 0;
    while (i < a.length && a[i].ts_ms < cut) i++;
    if (i > 0) a.splice(0, i);
  }

  // Samples with ts_ms in [end - windowMs, end], plus whether a gap row
  // must precede each one. Returns [{s, gapBefore}].
  window(windowMs, endMs) {
    const out = [];
    const from = endMs - windowMs;
    let prev = null;
    for (const s of this.samples) {
      if (s.ts_ms > endMs) break;
      if (s.ts_ms < from) {
        prev = s;
        continue;
      }
      let gap = false;
      if (prev) {
        const step = Math.max(s.dt_ms || 1000, 1000);
        gap = s.seq - prev.seq > 1 || s.ts_ms - prev.ts_ms > 2.5 * step;
      }
      out.push({ s, gapBefore: gap, prevTs: prev ? prev.ts_ms : null });
      prev = s;
    }
    return out;
  }
}

// uPlot data for one chart: x in seconds, one array per getter. A gap row
// (all nulls) goes just after the sample before each gap.
export function columns(rows, getters) {
  const x = [];
  const ys = getters.map(() => []);
  for (const { s, gapBefore, prevTs } of rows) {
    if (gapBefore && x.length) {
      x.push((prevTs + 1) / 1000);
      for (const y of ys) y.push(null);
    }
    x.push(s.ts_ms / 1000);
    getters.forEach((g, i) => {
      let v = null;
      try {
        v = g(s);
      } catch (e) {
        v = null;
      }
      if (typeof v !== 'number' || !Number.isFinite(v)) v = null;
      ys[i].push(v);
    });
  }
  return [x, ...ys];
}
