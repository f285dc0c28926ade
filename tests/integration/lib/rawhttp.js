'use strict';
// HTTP/1.1 on a bare TCP socket, for requests no HTTP client library sends:
// pipelined requests in one write, repeated or malformed framing headers,
// bytes trickled one at a time. Also reads a process's open files and
// listening sockets from /proc.

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');

/*
 * Parse as many complete HTTP responses as buf holds. Returns
 * {responses: [{status, headers, body}], rest}. Bodies are framed by
 * Content-Length (the relay always sends one).
 */
function parseResponses(buf) {
  const responses = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(head[0])}`);
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] || 0);
    if (buf.length < end + 4 + len) break;
    const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
    responses.push({ status: Number(m[1]), headers, body });
    off = end + 4 + len;
  }
  return { responses, rest: buf.subarray(off) };
}

/*
 * Open a socket to 127.0.0.1:port and write each of writes (strings or
 * Buffers) as one write each. Resolves when `want` responses have arrived
 * and the peer closed (opts.waitClose), or when want responses arrived,
 * or when the peer closed, or after opts.timeoutMs (default 5000):
 * {responses, closed, rest}. opts.tls: tls.connect options, to speak TLS.
 */
function rawHttp(port, writes, want, opts = {}) {
  return new Promise((resolve, reject) => {
    const sock = opts.tls ? tls.connect({ host: '127.0.0.1', port, ...opts.tls }) :
      net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let closed = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      let parsed;
      try {
        parsed = parseResponses(buf);
      } catch (e) {
        sock.destroy();
        reject(e);
        return;
      }
      sock.destroy();
      resolve({ ...parsed, closed });
    };
    const timer = setTimeout(finish, opts.timeoutMs || 5000);
    sock.on(opts.tls ? 'secureConnect' : 'connect', async () => {
      for (const w of writes) {
        if (typeof w === 'function') await w(sock);
        else sock.write(w);
      }
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let n;
      try {
        n = parseResponses(buf).responses.length;
      } catch (_) {
        n = 0;
      }
      if (n >= want && !opts.waitClose) finish();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      finish();
    });
  });
}

// An HTTP/1.1 request as text; body (string) gets a Content-Length.
function httpText(method, path, body, headers = {}) {
  const lines = [`${method} ${path} HTTP/1.1`];
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) lines.push('Host: 127.0.0.1');
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + (body || '');
}

// How many files process pid has open.
function openFiles(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// Resident set size of pid in KiB.
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

// CPU time (user + system) pid has used, in clock ticks.
function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(after[11]) + Number(after[12]);
}

/*
 * The listening TCP sockets that belong to pid: [{family, addr, port}],
 * addr as /proc prints it decoded ('127.0.0.1', '::', '::ffff:127.0.0.1').
 */
function listeningSockets(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch (_) {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  const out = [];
  for (const [family, file] of [['tcp', 'tcp'], ['tcp6', 'tcp6']]) {
    let text;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch (_) {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue;
      const [hex, porthex] = f[1].split(':');
      out.push({ family, addr: decodeAddr(hex), port: parseInt(porthex, 16) });
    }
  }
  return out;
}

// /proc/net/tcp{,6} addresses: 32-bit words in host (little-endian) order.
function decodeAddr(hex) {
  const bytes = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8);
    for (let b = 6; b >= 0; b -= 2) bytes.push(parseInt(word.slice(b, b + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  const text = groups.join(':');
  if (/^0:0:0:0:0:ffff:/.test(text)) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  return text === '0:0:0:0:0:0:0:0' ? '::' : text === '0:0:0:0:0:0:0:1' ? '::1' : text;
}

module.exports = {
  parseResponses, rawHttp, httpText, openFiles, rssKiB, cpuTicks,
  listeningSockets,
};
