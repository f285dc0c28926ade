'use strict';
// HTTP helpers: hand-signed Pusher API requests (auth_version 1.0, for cases
// the SDK refuses to send), a webhook receiver that keeps raw bodies, and a
// Prometheus text parser for /metrics.

const crypto = require('node:crypto');
const http = require('node:http');
const { freePort } = require('./wait');
const { httpText } = require('./rawhttp');

// Plain HTTP request to the relay; resolves {status, headers, body, json}.
function request(port, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path,
      headers: body === undefined ? headers :
        { 'content-type': 'application/json',
          'content-length': Buffer.byteLength(body), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch (_) {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('http request timed out')));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/*
 * Sign and send an API request exactly as auth_version 1.0 says: add
 * auth_key, auth_timestamp, auth_version and body_md5 (non-empty body), sort
 * lower-cased keys, join k=v unescaped, HMAC-SHA256 over
 * "METHOD\npath\nquery". opts.timestamp overrides the time (unix seconds).
 */
function signedRequest(relay, method, path, bodyObj, opts = {}) {
  const body = bodyObj === undefined ? undefined :
    (typeof bodyObj === 'string' ? bodyObj : JSON.stringify(bodyObj));
  return request(opts.port || relay.port, method,
    signedPath(relay, method, path, body, opts), body);
}

// The path and signed query of such a request, for a body string (or
// undefined), to send as raw text (rawhttp.js).
function signedPath(relay, method, path, body, opts = {}) {
  const app = opts.app || relay.app;
  const params = {
    auth_key: app.key,
    auth_timestamp: String(opts.timestamp || Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...(opts.params || {}),
  };
  if (body) params.body_md5 = crypto.createHash('md5').update(body).digest('hex');
  const query = Object.keys(params).map((k) => [k.toLowerCase(), params[k]])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const toSign = `${method}\n${path}\n${query}`;
  const sig = crypto.createHmac('sha256', opts.secret || app.secret)
    .update(toSign).digest('hex');
  const qs = Object.keys(params)
    .map((k) => `${k}=${encodeURIComponent(params[k])}`).join('&');
  return `${path}?${qs}&auth_signature=${sig}`;
}

// A signed publish of event 'ev' with data (JSON-encoded) on channel, as raw
// request text to write on a socket (pipelining tests).
function signedPublishText(relay, channel, data) {
  const body = JSON.stringify({ name: 'ev', channels: [channel], data: JSON.stringify(data) });
  return httpText('POST', signedPath(relay, 'POST', `/apps/${relay.app.id}/events`, body),
    body, { 'Content-Type': 'application/json' });
}

/*
 * Webhook receiver on a free 127.0.0.1 port. Every request is kept as
 * {method, url, headers (lower-cased), rawBody, json, at, status (the code
 * it was answered)}. status(hook) may be replaced to answer some requests
 * with another code; events() lists the events of every request, accepted()
 * those of the requests answered 2xx.
 */
async function startWebhookReceiver() {
  const port = await freePort();
  const hooks = [];
  const rx = {
    port,
    url: `http://127.0.0.1:${port}/hooks`,
    hooks,
    status: () => 200,
    events() {
      const out = [];
      for (const h of hooks) {
        for (const e of (h.json && h.json.events) || []) out.push({ ...e, _hook: h });
      }
      return out;
    },
    accepted() {
      return rx.events().filter((e) => e._hook.status < 300);
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let json;
      try {
        json = JSON.parse(rawBody);
      } catch (_) {
        json = undefined;
      }
      const hook = { method: req.method, url: req.url, headers: req.headers,
        rawBody, json, at: Date.now() };
      hooks.push(hook);
      hook.status = rx.status(hook);
      res.writeHead(hook.status, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return rx;
}

// Parse Prometheus text format into a Map "name{labels}" -> number, labels
// sorted so lookups do not depend on the relay's label order.
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    let key = m[1];
    if (m[3]) {
      const labels = m[3].match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) || [];
      key += `{${labels.sort().join(',')}}`;
    }
    out.set(key, Number(m[4]));
  }
  return out;
}

async function scrapeMetrics(relay) {
  const r = await request(relay.port, 'GET', '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
  const map = parseMetrics(r.body);
  map.text = r.body;
  return map;
}

// Look up one series; labels given as an object.
function metric(map, name, labels) {
  let key = name;
  if (labels) {
    key += `{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;
  }
  return map.get(key);
}

module.exports = {
  request,
  signedRequest,
  signedPath,
  signedPublishText,
  startWebhookReceiver,
  parseMetrics,
  scrapeMetrics,
  metric,
};
