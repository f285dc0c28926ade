// web/src/store.js on its own (no browser): samples are merged by seq with
// no duplicates whatever order history and live events arrive in, and a
// missing seq or a time jump becomes a null row (a gap), never a line.
import { test } from 'node:test';
import assert from 'node:assert';
import { SampleStore, columns, KEEP_MS } from '../../web/src/store.js';

const T0 = 1764140000000;
const s = (seq, ts = T0 + (seq - 1) * 1000, v = seq) =>
  ({ v: 1, seq, ts_ms: ts, dt_ms: 1000, cpu: { pct: { usr: v } } });
const usr = (x) => x.cpu.pct.usr;

test('live_then_history_merge_by_seq_without_duplicates', () => {
  const st = new SampleStore();
  for (const q of [5, 6, 7]) assert.ok(st.add(s(q)));
  let added = 0;
  for (const q of [1, 2, 3, 4, 5, 6]) if (st.add(s(q))) added++;
  assert.strictEqual(added, 4);
  assert.deepStrictEqual(st.samples.map((x) => x.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.strictEqual(st.add(s(7)), false);
  assert.strictEqual(st.lastSeq, 7);
});

test('malformed_samples_are_ignored', () => {
  const st = new SampleStore();
  for (const bad of [null, 'x', {}, { seq: 'a', ts_ms: 1 }, { seq: 1 }]) {
    assert.strictEqual(st.add(bad), false);
  }
  assert.strictEqual(st.samples.length, 0);
});

test('a_missing_seq_is_drawn_as_a_gap', () => {
  const st = new SampleStore();
  for (const q of [1, 2, 4, 5]) st.add(s(q));
  const [x, y] = columns(st.window(60000, T0 + 4000), [usr]);
  assert.deepStrictEqual(y, [1, 2, null, 4, 5]);
  assert.strictEqual(x.length, 5);
  assert.ok(x[2] > x[1] && x[2] < x[3], 'the gap row sits between its neighbours');
});

test('a_time_jump_with_consecutive_seq_is_a_gap_too', () => {
  const st = new SampleStore();
  st.add(s(1, T0));
  st.add(s(2, T0 + 1000));
  st.add(s(3, T0 + 60000)); // next session, same seq counter
  const [, y] = columns(st.window(120000, T0 + 60000), [usr]);
  assert.deepStrictEqual(y, [1, 2, null, 3]);
});

test('missing_fields_become_null_not_errors', () => {
  const st = new SampleStore();
  st.add({ seq: 1, ts_ms: T0 });
  st.add({ seq: 2, ts_ms: T0 + 1000, cpu: { pct: { usr: 'x' } } });
  st.add(s(3));
  const [, y] = columns(st.window(60000, T0 + 2000), [usr]);
  assert.deepStrictEqual(y, [null, null, 3]);
});

test('window_and_trim', () => {
  const st = new SampleStore();
  const n = KEEP_MS / 1000 + 30;
  for (let q = 1; q <= n; q++) st.add(s(q));
  assert.ok(st.samples.length <= KEEP_MS / 1000 + 1);
  assert.strictEqual(st.lastSeq, n);
  const rows = st.window(60000, st.last.ts_ms);
  assert.ok(rows.length === 60 || rows.length === 61, `rows ${rows.length}`);
  assert.ok(!rows.some((r) => r.gapBefore));
});

test('an_agent_restart_starts_over', () => {
  const st = new SampleStore();
  for (const q of [100, 101, 102]) st.add(s(q));
  assert.ok(st.add(s(1, T0 + 200000)));
  assert.deepStrictEqual(st.samples.map((x) => x.seq), [1]);
});
