'use strict';
// Issue 10: `include = conf.d/*.conf` in [relay] reads more files, sorted,
// with the main file's rules and errors that name the included file and
// line; `sno-relay new-host NAME --account A --write DIR` writes
// DIR/host-NAME.conf (0640) that the relay then accepts, and prints the key
// the agent's key_file takes (the agent signs with it and is accepted).
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { runRelayCli, tmpDir, request } = require('./lib');
const sno = require('./lib/sno');

const dirs = [];
const running = [];
after(async () => {
  for (const r of running) await sno.stopDaemon(r.cur);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

// A relay.ini (demo app) with include = conf.d/*.conf and the given files.
function setup(files, relayKeys = '') {
  const dir = tmpDir();
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'conf.d'));
  const main = path.join(dir, 'relay.ini');
  fs.writeFileSync(main, '[relay]\nlisten = 127.0.0.1:6001\ninclude = conf.d/*.conf\n' +
    relayKeys + '\n[app demo]\nid = 1\nkey = demo-key\nsecret = demo-secret\n');
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, 'conf.d', name), text);
  }
  return { dir, main, confd: path.join(dir, 'conf.d') };
}

test('included_files_are_read_and_checked', () => {
  const { main } = setup({ 'a.conf': '[app two]\nid = 2\nkey = two-key\nsecret = s\n',
    'notes.txt': 'this is not read\n' });
  const r = runRelayCli(['--check-config', '-c', main]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /configuration OK/);
});

test('error_in_included_file_names_that_file_and_line', () => {
  const { confd, main } = setup({ '10-ok.conf': '[app two]\nid = 2\nkey = two-key\nsecret = s\n',
    '20-bad.conf': '[app three]\nid = 3\n\nnot_a_key = x\n' });
  const r = runRelayCli(['--check-config', '-c', main]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${path.join(confd, '20-bad.conf')}:4: unknown key 'not_a_key'`),
    r.stderr);
});

test('validation_error_after_parse_names_the_included_file', () => {
  const { confd, main } = setup({ 'u.conf': '\n[user bob]\naccount = nobody\n' +
    'password_hash = $argon2id$v=19$m=65536,t=2,p=1$x$y\n' });
  const r = runRelayCli(['--check-config', '-c', main]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${path.join(confd, 'u.conf')}:2: [user bob]: there is no ` +
    '[account nobody]'), r.stderr);
});

test('files_are_read_in_sorted_order', () => {
  // The same app key in two files: the later file (in sort order) is the
  // one that repeats it, whatever order the directory lists them in.
  const { confd, main } = setup({ 'b-20.conf': '[app y]\nid = y\nkey = same\nsecret = s\n',
    'a-10.conf': '[app x]\nid = x\nkey = same\nsecret = s\n' });
  const r = runRelayCli(['--check-config', '-c', main]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${path.join(confd, 'b-20.conf')}:3: key 'same' is already ` +
    'used by [app x]'), r.stderr);
});

test('include_inside_an_included_file_is_refused', () => {
  const { confd, main } = setup({ 'n.conf': '[relay]\ninclude = other/*.conf\n' });
  const r = runRelayCli(['--check-config', '-c', main]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${path.join(confd, 'n.conf')}:2: include: only the main file`),
    r.stderr);
});

test('an_empty_or_missing_conf_d_is_fine', () => {
  const { main, confd } = setup({});
  assert.equal(runRelayCli(['--check-config', '-c', main]).status, 0);
  fs.rmdirSync(confd);
  const r = runRelayCli(['--check-config', '-c', main]);
  assert.equal(r.status, 0, r.stderr);
});

test('new_host_write_makes_a_0640_file_the_relay_accepts_and_the_agent_key', async () => {
  const port = await require('./lib').freePort();
  const dir = tmpDir();
  dirs.push(dir);
  const confd = path.join(dir, 'conf.d');
  fs.mkdirSync(confd);
  const r = runRelayCli(['new-host', 'web-7', '--account', 'acme', '--write', confd]);
  assert.equal(r.status, 0, r.stderr);
  const key = r.stdout.trim();
  assert.match(key, /^[0-9a-f]{64}$/, 'stdout is only the key, for the agent key_file');
  const file = path.join(confd, 'host-web-7.conf');
  assert.equal(fs.statSync(file).mode & 0o777, 0o640);
  assert.equal(fs.readFileSync(file, 'utf8'), `[host web-7]\naccount = acme\nkey = ${key}\n`);
  // Never over an existing file.
  const again = runRelayCli(['new-host', 'web-7', '--account', 'acme', '--write', confd]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists/);
  assert.equal(fs.readFileSync(file, 'utf8').includes(key), true);
  // A bad account name is refused before anything is written.
  const bad = runRelayCli(['new-host', 'web-8', '--account', 'a b', '--write', confd]);
  assert.equal(bad.status, 1);
  assert.equal(fs.existsSync(path.join(confd, 'host-web-8.conf')), false);

  // The relay (snoConfig has account acme) includes it; the key signs.
  const relay = await sno.startSnoRelay([], { dir, port, relay: { include: 'conf.d/*.conf' } });
  running.push(relay);
  const ok = await sno.agentPost(relay.port, 'web-7', key, '/agent/v1/samples',
    [sno.makeSample('web-7', 1)]);
  assert.equal(ok.status, 200, ok.body);
  const wrong = await sno.agentPost(relay.port, 'web-7', 'ab'.repeat(32), '/agent/v1/samples',
    [sno.makeSample('web-7', 2)]);
  assert.equal(wrong.status, 401);
  const ready = await request(relay.port, 'GET', '/readyz');
  assert.equal(ready.status, 200);
});
