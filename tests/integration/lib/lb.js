'use strict';
// A small TCP load balancer for the cluster fault tests (issue 12): listens
// on a free 127.0.0.1 port and hands each connection to the next backend
// port in turn (round-robin), skipping a backend whose connect fails, as a
// load balancer in front of relay nodes does once one dies. Bytes are
// copied both ways unchanged (websocket upgrades included); when either
// side closes, so does the other.
//
//   const lb = await startLb([A.port, B.port]);
//   ... connect to lb.port ...
//   lb.picks.at(-1)  // the backend port the latest connection went to
//   await lb.close();

const net = require('node:net');
const { freePort } = require('./wait');

// Connects to port on 127.0.0.1; resolves the socket, or null on error.
function dial(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(null));
  });
}

async function startLb(backends) {
  const port = await freePort();
  const socks = new Set();
  let next = 0;
  const lb = {
    port,
    backends: [...backends],
    picks: [],		// backend port of each connection, in accept order
    refused: 0,		// backend connects that failed (and were skipped)
  };
  const track = (s) => {
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer(async (client) => {
    track(client);
    client.pause();
    // Each connection starts at the next backend in turn (taken before
    // any await, so connections racing in spread too) and tries the
    // others from there.
    const n = lb.backends.length;
    const start = next;
    next = (next + 1) % n;
    let up = null;
    let pick = 0;
    for (let i = 0; i < n && !up; i++) {
      pick = lb.backends[(start + i) % n];
      if (!(up = await dial(pick))) lb.refused++;
    }
    if (!up || client.destroyed) {
      if (up) up.destroy();
      client.destroy();
      return;
    }
    track(up);
    lb.picks.push(pick);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.pipe(up);
    up.pipe(client);
    client.resume();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  lb.close = () => new Promise((resolve) => {
    for (const s of socks) s.destroy();
    server.close(() => resolve());
  });
  return lb;
}

module.exports = { startLb };
