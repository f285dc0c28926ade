'use strict';
// sno.conf(5) cannot drift from the key tables (issue 10): every key that
// `sno-relay --help-config` and `sno-agent --help-config` print has an entry
// in packaging/man/sno.conf.5 under its section, with the same type, range
// and default, and the page documents no key the daemons do not know.
const { test } = require('node:test');
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const TOP = path.resolve(__dirname, '../..');
const RELAY = process.env.SNO_RELAY || path.join(TOP, 'build/sno-relay');
const AGENT = process.env.SNO_AGENT || path.join(TOP, 'build/sno-agent');
const PAGE = path.join(TOP, 'packaging/man/sno.conf.5');

// "[SECTION] NAME (TYPE...): HELP" lines -> Map "SECTION NAME" -> "TYPE...".
function keysOf(bin) {
  const out = execFileSync(bin, ['--help-config'], { encoding: 'utf8' });
  const m = new Map();
  for (const line of out.split('\n').filter(Boolean)) {
    const r = /^\[([^\]]+)\] (\S+) \(([^)]*)\): \S/.exec(line);
    assert.ok(r, `${bin} --help-config printed a line of no known form: ${line}`);
    m.set(`${r[1]} ${r[2]}`, r[3]);
  }
  assert.ok(m.size > 0, `${bin} --help-config printed no keys`);
  return m;
}

// Entries of the page: under .SS "[SECTION]", ".TP", ".B NAME", "(TYPE...)".
function pageKeys() {
  const lines = fs.readFileSync(PAGE, 'utf8').split('\n');
  const m = new Map();
  let section = null;
  for (let i = 0; i < lines.length; i++) {
    const ss = /^\.SS "\[([^\]]+)\]"$/.exec(lines[i]);
    if (ss) section = ss[1];
    else if (/^\.S[HS] /.test(lines[i])) section = null;
    if (section && lines[i] === '.TP' && /^\.B \S+$/.test(lines[i + 1] || '')) {
      const name = lines[i + 1].slice(3).replace(/\\-/g, '-');
      const paren = /^\((.*)\)$/.exec(lines[i + 2] || '');
      assert.ok(paren, `sno.conf.5: [${section}] ${name} has no (type, default) line`);
      m.set(`${section} ${name}`, paren[1].replace(/\\-/g, '-'));
    }
  }
  return m;
}

test('sno.conf(5) documents exactly the keys of both daemons, with their types and defaults', () => {
  const want = new Map([...keysOf(RELAY), ...keysOf(AGENT)]);
  const have = pageKeys();
  const missing = [...want.keys()].filter((k) => !have.has(k));
  const extra = [...have.keys()].filter((k) => !want.has(k));
  assert.deepStrictEqual(missing, [], `keys without an entry in sno.conf.5: ${missing}`);
  assert.deepStrictEqual(extra, [], `sno.conf.5 documents unknown keys: ${extra}`);
  for (const [k, v] of want) {
    assert.strictEqual(have.get(k), v, `sno.conf.5 [${k.replace(/ (?=\S+$)/, '] ')}: ` +
      `the page says (${have.get(k)}), --help-config says (${v})`);
  }
});
