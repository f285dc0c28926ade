'use strict';
// The command line: --check-config, --version, --help, config errors as
// FILE:LINE, and a clean SIGTERM shutdown that leaves pusher-js willing to
// reconnect.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  runRelayCli, renderConfig, stopRelay, tmpDir, DEMO_APP, startRelay, connectRaw,
  waitFor,
} = require('./lib');

const running = [];
const dirs = [];
after(async () => {
  for (const r of running) await stopRelay(r);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function writeConfig(text) {
  const dir = tmpDir();
  dirs.push(dir);
  const file = path.join(dir, 'relay.ini');
  fs.writeFileSync(file, text);
  return file;
}

test('check_config_accepts_valid_file', () => {
  const file = writeConfig(renderConfig(
    { listen: '127.0.0.1:6001', max_message_bytes: 1048576, activity_timeout: 120,
      send_queue_bytes: 1048576, allowed_origins: '*' }, [DEMO_APP]));
  const r = runRelayCli(['--check-config', '-c', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /configuration OK/);
});

test('check_config_reports_unknown_key_with_file_and_line', () => {
  const text = renderConfig({ listen: '127.0.0.1:6001' }, [DEMO_APP]) + 'bogus_key = 1\n';
  const file = writeConfig(text);
  const line = text.split('\n').indexOf('bogus_key = 1') + 1;
  const r = runRelayCli(['--check-config', '-c', file]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${file}:${line}:`),
    `want "${file}:${line}:" in stderr, got: ${r.stderr}`);
});

test('check_config_reports_out_of_range_value_with_line', () => {
  const text = '[relay]\nlisten = 127.0.0.1:6001\nactivity_timeout = -5\n' +
    renderConfig({}, [DEMO_APP]).replace('[relay]\n', '');
  const file = writeConfig(text);
  const r = runRelayCli(['--check-config', '-c', file]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${file}:3:`), r.stderr);
});

test('check_config_reports_duplicate_app_key', () => {
  const text = renderConfig({ listen: '127.0.0.1:6001' },
    [DEMO_APP, { ...DEMO_APP, name: 'dup', id: '2' }]);
  const file = writeConfig(text);
  const r = runRelayCli(['--check-config', '-c', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:`));
});

test('version_prints_version_and_exits_0', () => {
  const r = runRelayCli(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout + r.stderr, /\d+\.\d+\.\d+/);
});

test('help_prints_usage_and_exits_0', () => {
  const r = runRelayCli(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout + r.stderr, /check-config/);
});

test('sigterm_closes_websockets_with_reconnectable_code_and_exits_0', async () => {
  const relay = await startRelay();
  running.push(relay);
  const raw = await connectRaw(relay);
  assert.equal(raw.msgs[0].event, 'pusher:connection_established');
  const info = await relay.stop();
  assert.equal(info.code, 0, `exit ${JSON.stringify(info)}\n${relay.logs()}`);
  await waitFor(() => raw.closed, 2000, 'websocket close on shutdown');
  const c = raw.closed.code;
  assert.ok(!((c >= 4001 && c <= 4099) || c >= 4300 || c === 4000),
    `shutdown close code ${c} stops pusher-js`);
});

test('log_lines_have_level_time_and_key_value_fields', async () => {
  const relay = await startRelay();
  running.push(relay);
  const ready = relay.logs().split('\n').find((l) => l.includes('relay ready'));
  assert.ok(ready);
  assert.match(ready, /\w+=\S+/, `no key=value field in: ${ready}`);
});
