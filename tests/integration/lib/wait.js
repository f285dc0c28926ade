'use strict';
// Small timing helpers shared by the integration tests: polling with a
// deadline, sleeping, and free-port discovery on 127.0.0.1.

const net = require('node:net');

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Poll predicate (sync or async) every 10 ms until it returns a truthy value,
// which is returned. Rejects after timeoutMs with what, so a failing test says
// what it was waiting for.
async function waitFor(predicate, timeoutMs = 3000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(10);
  }
}

// A port the kernel just handed out on 127.0.0.1; parallel test files each
// ask for their own, so they never collide on a fixed number.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = { sleep, waitFor, freePort };
