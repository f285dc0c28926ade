'use strict';
// Small timing helpers shared by the integration tests: polling with a
// deadline, sleeping, and free-port discovery on 127.0.0.1.

const net = require('node:net');

// Every bound on a wait for a state is multiplied by this: the sanitizer
// build (SNO_RELAY under build-asan/) runs several times slower, and CI runs
// it on 2 busy cores. A longer bound only makes a failing wait fail later;
// it never lets one pass. SNO_WAIT_SCALE overrides it.
const SCALE = Number(process.env.SNO_WAIT_SCALE) ||
  (/asan/.test(process.env.SNO_RELAY || process.env.SNO_BUILD || '') ? 4 : 1);

// timeoutMs for a wait on a state, scaled for the build under test.
function bound(ms) {
  return ms * SCALE;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Poll predicate (sync or async) every 10 ms until it returns a truthy value,
// which is returned. Rejects after bound(timeoutMs) with what, so a failing
// test says what it was waiting for.
async function waitFor(predicate, timeoutMs = 3000, what = 'condition') {
  timeoutMs = bound(timeoutMs);
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

module.exports = { bound, sleep, waitFor, freePort };
