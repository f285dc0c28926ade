'use strict';
// A websocket client on a bare TCP socket that writes any frame, valid or
// not (unmasked, reserved bits, bad opcodes, oversized control frames,
// 2^63 lengths), and records every frame the relay sends back, decoded.

const net = require('node:net');
const crypto = require('node:crypto');

/*
 * A frame as bytes. opts: fin (default true), rsv (0-7), opcode (default 1,
 * text), mask (default true), payload (string or Buffer), len (a length to
 * claim instead of the payload's, e.g. 2n ** 63n, as BigInt or number).
 */
function frame(opts = {}) {
  const payload = Buffer.from(opts.payload === undefined ? '' : opts.payload);
  const fin = opts.fin === false ? 0 : 0x80;
  const mask = opts.mask !== false;
  const len = opts.len === undefined ? BigInt(payload.length) : BigInt(opts.len);
  const b0 = fin | ((opts.rsv || 0) << 4) | (opts.opcode === undefined ? 1 : opts.opcode);
  let head;
  if (len < 126n) {
    head = Buffer.from([b0, (mask ? 0x80 : 0) | Number(len)]);
  } else if (len < 65536n) {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = (mask ? 0x80 : 0) | 126;
    head.writeUInt16BE(Number(len), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = (mask ? 0x80 : 0) | 127;
    head.writeBigUInt64BE(len, 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i % 4];
  return Buffer.concat([head, key, masked]);
}

// A close frame's payload: 2-byte code and a reason.
function closePayload(code, reason = '') {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, Buffer.from(reason)]);
}

/*
 * Decodes the relay's (unmasked) frames from a byte stream: the function it
 * returns takes each chunk read and calls onFrame(opcode, payload) for every
 * whole frame, keeping a partial one for the next chunk.
 */
function frameReader(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      onFrame(op, buf.subarray(off, off + len));
      buf = buf.subarray(off + len);
    }
  };
}

/*
 * Connect to relay (its app key), upgrade, and resolve once the handshake
 * answer is in: {sock, send(buf), frames: [{opcode, payload, text}],
 * closeCode (the relay's close frame code, or null), closed (socket),
 * texts()}. With opts.onFrame the frames are handed to onFrame(opcode,
 * payload, c) instead of kept. opts.port; opts.timeoutMs (default 5 s).
 */
function connectFrames(relay, opts = {}) {
  const sock = net.connect({ host: '127.0.0.1', port: opts.port || relay.port });
  const c = { sock, frames: [], closeCode: null, closed: false, upgraded: false };
  c.send = (buf) => {
    if (!sock.destroyed) sock.write(buf);
  };
  c.texts = () => c.frames.filter((f) => f.opcode === 1).map((f) => f.text);
  const feed = frameReader((op, payload) => {
    if (opts.onFrame) {
      opts.onFrame(op, payload, c);
      return;
    }
    c.frames.push({ opcode: op, payload, text: payload.toString('utf8') });
    if (op === 8) c.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
  });
  let buf = Buffer.alloc(0);
  sock.on('error', () => {});
  sock.on('close', () => {
    c.closed = true;
  });
  return new Promise((resolve, reject) => {
    const ms = opts.timeoutMs || 5000;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`raw frames client: no handshake answer in ${ms / 1000} s`));
    }, ms);
    sock.on('connect', () => {
      sock.write(`GET /app/${relay.app.key}?protocol=7&client=js&version=8.6.0&flash=false HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${relay.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n');
    });
    sock.on('data', (d) => {
      if (c.upgraded) {
        feed(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      clearTimeout(timer);
      if (!/^HTTP\/1\.1 101/.test(head)) {
        sock.destroy();
        reject(new Error(`handshake refused: ${head}`));
        return;
      }
      c.upgraded = true;
      resolve(c);
      feed(buf.subarray(end + 4));
    });
  });
}

module.exports = { frame, closePayload, frameReader, connectFrames };
