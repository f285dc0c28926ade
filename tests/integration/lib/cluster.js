'use strict';
// The set-up every cluster test (issue 12) shares: a real redis-server on a
// free port, relay nodes started on it, pusher-js clients on those nodes,
// and one stop() that ends them all by PID, each attempted even when
// another fails (a node left paused by SIGSTOP is woken first).
//
//   const c = await startCluster();
//   const A = await c.node('relay-a');
//   const a = await c.client(A);
//   ...
//   after(() => c.stop());

const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { waitFor } = require('./wait');
const { startRelay, stopRelay } = require('./relay');
const { connectPusher, waitMessage, disconnectAll } = require('./clients');
const { request } = require('./http');
const { redisServer } = require('./redis');

// True when the relay's /readyz says ready: Redis reachable, lease held.
async function ready(relay) {
  return (await request(relay.port, 'GET', '/readyz')).status === 200;
}

// Every client in cs got a fresh `barrier` event on channel, sent through
// sdk: what Redis ordered before it on that channel has been delivered.
async function barrier(sdk, channel, cs) {
  const tag = Math.random().toString(36).slice(2);
  await sdk.trigger(channel, 'barrier', { tag });
  for (const c of cs) {
    await waitMessage(c, 'barrier', channel, 5000, (m) => m.data && m.data.tag === tag);
  }
}

async function startCluster() {
  const redis = await redisServer();
  const nodes = [];
  const clients = [];
  const cluster = {
    redis,
    nodes,
    // redis-cli against the cluster's Redis; its output, trimmed.
    cli(...args) {
      return execFileSync('redis-cli', ['-p', String(redis.port), ...args],
        { encoding: 'utf8', timeout: 5000 }).trim();
    },
    // A relay node on this Redis (opts as startRelay's; opts.relay merged
    // over the Redis keys), resolved once its /readyz says ready.
    async node(id, opts = {}) {
      const relay = { redis: redis.url, node_id: id, ...(opts.relay || {}) };
      const r = await startRelay({ ...opts, relay });
      nodes.push(r);
      await waitFor(() => ready(r), 5000, `${id} ready`);
      return r;
    },
    // A pusher-js client on relay (opts as connectPusher's), closed by stop().
    async client(relay, opts) {
      const c = await connectPusher(relay, opts);
      clients.push(c);
      return c;
    },
    // Stops clients, nodes and Redis; every stop is attempted.
    async stop() {
      disconnectAll(clients);
      const stops = await Promise.allSettled(nodes.map(async (r) => {
        try { process.kill(r.pid, 'SIGCONT'); } catch (_) { /* gone */ }
        if (r.alive()) await stopRelay(r);
        else fs.rmSync(r.dir, { recursive: true, force: true });
      }));
      await redis.stop();
      // A node that did not stop cleanly (exit status, sanitizer report)
      // fails the file, after every other stop was attempted.
      const failed = stops.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
  return cluster;
}

module.exports = { startCluster, ready, barrier };
