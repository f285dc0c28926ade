'use strict';
// Clients the tests drive: a real pusher-js (Node build) with channel and
// user authorisation signed by the official `pusher` SDK, the SDK itself for
// the HTTP API, and a raw `ws` client for frames pusher-js would never send.

const PusherClient = require('pusher-js');
const PusherServer = require('pusher');
const WebSocket = require('ws');
const { bound, waitFor } = require('./wait');

PusherClient.logToConsole = false;

// Official server SDK pointed at relay (or {port, app, tls}).
function sdkFor(relay, over = {}) {
  const app = over.app || relay.app;
  const opts = {
    appId: String(app.id),
    key: app.key,
    secret: over.secret || app.secret,
    host: '127.0.0.1',
    port: over.port || relay.port,
    useTLS: !!over.useTLS,
    timeout: over.timeout || 10000,
    // Needed only to authorise private-encrypted- channels (shared_secret).
    encryptionMasterKeyBase64: Buffer.alloc(32, 7).toString('base64'),
  };
  if (over.agent) opts.agent = over.agent;
  return new PusherServer(opts);
}

/*
 * Connect a pusher-js client and wait until it is connected. Every raw
 * message it receives is recorded in client.received as {event, channel,
 * data, user_id, at}. opts: user (presence channel_data {user_id,
 * user_info}), signinUser ({id, ...}), authSecret (sign with this secret
 * instead, e.g. a wrong one), key, port, tls {wssPort}.
 */
async function connectPusher(relay, opts = {}) {
  const app = opts.app || relay.app;
  const signer = sdkFor(relay, { app, secret: opts.authSecret });
  const cfg = {
    wsHost: '127.0.0.1',
    wsPort: opts.port || relay.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    cluster: 'x',
    activityTimeout: 120000,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        try {
          const data = channelName.startsWith('presence-') ? opts.user : undefined;
          cb(null, signer.authorizeChannel(socketId, channelName, data));
        } catch (e) {
          cb(e, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, cb) => {
        try {
          cb(null, signer.authenticateUser(socketId, opts.signinUser));
        } catch (e) {
          cb(e, null);
        }
      },
    },
  };
  if (opts.tls) {
    cfg.forceTLS = true;
    cfg.wssPort = opts.tls.wssPort;
    cfg.enabledTransports = ['ws', 'wss'];
  }
  const client = new PusherClient(opts.key || app.key, cfg);
  client.received = [];
  client.states = [];
  client.connection.bind('message', (m) => {
    client.received.push({ ...m, at: Date.now() });
  });
  client.connection.bind('state_change', (s) => {
    client.states.push({ ...s, at: Date.now() });
  });
  try {
    await waitFor(() => client.connection.state === 'connected',
      opts.timeoutMs || 5000, 'pusher-js to reach connected');
  } catch (e) {
    client.disconnect();
    throw e;
  }
  return client;
}

// Messages a pusher-js client (or raw client) received matching filter.
function messages(client, event, channel) {
  const list = client.received || client.msgs;
  return list.filter((m) => (event === undefined || m.event === event) &&
    (channel === undefined || m.channel === channel));
}

// Wait for a message on a pusher-js or raw client; returns it.
function waitMessage(client, event, channel, timeoutMs = 3000, pred = () => true) {
  return waitFor(() => messages(client, event, channel).find(pred),
    timeoutMs, `${event} on ${channel === undefined ? '(any)' : channel}`);
}

/*
 * Resolves once the relay has sent client (pusher-js or raw) every frame it
 * had queued for it before: sends pusher:ping and waits for a new
 * pusher:pong, which the relay writes after them on the same connection.
 * With it a test asserts that nothing arrived without sleeping.
 */
async function pongBarrier(client, timeoutMs = 3000) {
  const n = messages(client, 'pusher:pong').length;
  if (client.send_event) client.send_event('pusher:ping', {});
  else client.send({ event: 'pusher:ping', data: {} });
  await waitFor(() => messages(client, 'pusher:pong').length > n, timeoutMs, 'pusher:pong');
}

/*
 * Publishes a `barrier` event on channel through the HTTP API (sdk) and
 * waits until every client in cs got it: anything the relay published to
 * channel for them before has been delivered by then.
 */
async function eventBarrier(sdk, channel, cs, timeoutMs = 3000) {
  const tag = Math.random().toString(36).slice(2);
  await sdk.trigger(channel, 'barrier', { tag });
  for (const c of cs) {
    await waitMessage(c, 'barrier', channel, timeoutMs, (m) => m.data && m.data.tag === tag);
  }
}

// Subscribe with pusher-js and wait for the server's
// pusher_internal:subscription_succeeded (or an error); returns the channel.
async function subscribe(client, name, timeoutMs = 3000) {
  const ch = client.subscribe(name);
  await waitFor(() => messages(client, 'pusher_internal:subscription_succeeded', name)[0] ||
    messages(client, 'pusher:subscription_error', name)[0],
  timeoutMs, `subscription result for ${name}`);
  return ch;
}

function disconnectAll(clients) {
  for (const c of clients.splice(0)) {
    try {
      if (c.disconnect) c.disconnect();
      else if (c.close) c.close();
    } catch (_) {
      /* already closed */
    }
  }
}

// Parse a frame the way pusher-js does: data strings are JSON-decoded when
// possible.
function decode(text) {
  const m = JSON.parse(text);
  if (typeof m.data === 'string') {
    try {
      m.data = JSON.parse(m.data);
    } catch (_) {
      /* keep the raw string */
    }
  }
  return m;
}

/*
 * Raw websocket client (`ws` library). Resolves once the first frame has
 * arrived (normally pusher:connection_established). Records every frame in
 * msgs (decoded, with rawData holding the undecoded data) and the close
 * {code, reason} in closed. opts.key, opts.query, opts.path.
 */
function connectRaw(relay, opts = {}) {
  const key = opts.key || relay.app.key;
  const query = opts.query === undefined ?
    'protocol=7&client=js&version=8.6.0&flash=false' : opts.query;
  const url = `ws://127.0.0.1:${opts.port || relay.port}` +
    (opts.path || `/app/${key}`) + (query ? `?${query}` : '');
  const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
  const raw = {
    ws,
    msgs: [],
    texts: [],
    closed: null,
    pongs: 0,
    socketId: null,
    send(obj) {
      ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
    },
    close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        ws.terminate();
      }
    },
    isOpen() {
      return ws.readyState === WebSocket.OPEN && raw.closed === null;
    },
  };
  ws.on('message', (data, isBinary) => {
    const text = data.toString('utf8');
    raw.texts.push({ text, isBinary });
    let m;
    try {
      const r = JSON.parse(text);
      m = decode(text);
      m.rawData = r.data;
    } catch (_) {
      m = { event: '(unparseable)', text };
    }
    m.at = Date.now();
    raw.msgs.push(m);
    if (m.event === 'pusher:connection_established' && m.data) {
      raw.socketId = m.data.socket_id;
    }
  });
  ws.on('pong', () => {
    raw.pongs++;
  });
  ws.on('close', (code, reason) => {
    raw.closed = { code, reason: reason.toString(), at: Date.now() };
  });
  ws.on('error', (err) => {
    raw.error = err;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`raw ws to ${url}: no first frame within ${bound(3000)} ms`));
    }, bound(3000));
    const done = () => {
      clearTimeout(timer);
      resolve(raw);
    };
    ws.once('message', done);
    ws.once('close', () => {
      if (raw.msgs.length === 0) {
        clearTimeout(timer);
        resolve(raw);
      }
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      if (raw.msgs.length === 0 && raw.closed === null) {
        reject(new Error(`raw ws to ${url}: websocket handshake failed: ${err.message}`));
      }
    });
  });
}

// Subscribe a raw client to a public channel (or with auth) and wait.
async function rawSubscribe(raw, channel, extra = {}) {
  const from = raw.msgs.length;
  raw.send({ event: 'pusher:subscribe', data: { channel, ...extra } });
  return waitFor(() => raw.msgs.slice(from).find((m) =>
    (m.channel === channel &&
     (m.event === 'pusher_internal:subscription_succeeded' ||
      m.event === 'pusher:subscription_error')) ||
    m.event === 'pusher:error'), 3000,
  `raw subscribe result for ${channel}`);
}

module.exports = {
  pongBarrier,
  eventBarrier,
  PusherClient,
  PusherServer,
  WebSocket,
  sdkFor,
  connectPusher,
  connectRaw,
  rawSubscribe,
  subscribe,
  messages,
  waitMessage,
  disconnectAll,
  decode,
};

/*
 * A websocket client on a bare TCP socket, for the slow-consumer case: it
 * does the RFC 6455 handshake by hand, subscribes to channel, waits for
 * subscription_succeeded and then stops reading for good (socket paused, no
 * data listener), so everything the relay sends piles up in its queue.
 */
function connectStalled(relay, channel, opts = {}) {
  const net = require('node:net');
  const crypto = require('node:crypto');
  const key = crypto.randomBytes(16).toString('base64');
  const sock = net.connect({ host: '127.0.0.1', port: opts.port || relay.port });
  const st = { sock, closed: false, error: null };
  sock.on('close', () => {
    st.closed = true;
  });
  sock.on('error', (e) => {
    st.error = e;
  });
  function frame(text) {
    const payload = Buffer.from(text);
    const mask = crypto.randomBytes(4);
    let head;
    if (payload.length < 126) {
      head = Buffer.from([0x81, 0x80 | payload.length]);
    } else {
      head = Buffer.alloc(4);
      head[0] = 0x81;
      head[1] = 0x80 | 126;
      head.writeUInt16BE(payload.length, 2);
    }
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
    return Buffer.concat([head, mask, payload]);
  }
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`stalled client: no subscription_succeeded; got ${buf.toString('latin1').slice(0, 300)}`));
    }, bound(3000));
    sock.on('connect', () => {
      sock.write(`GET /app/${relay.app.key}?protocol=7&client=js&version=8.6.0&flash=false HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${relay.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headText = buf.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(headText)) {
          clearTimeout(timer);
          reject(new Error(`stalled client: handshake refused: ${headText}`));
          return;
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        sock.write(frame(JSON.stringify({ event: 'pusher:subscribe', data: { channel } })));
      }
      const text = buf.toString('latin1');
      if (text.includes('pusher_internal:subscription_succeeded')) {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.pause();
        resolve(st);
      }
    };
    sock.on('data', onData);
  });
}

module.exports.connectStalled = connectStalled;
