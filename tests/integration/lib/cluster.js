'use strict';
// The set-up every cluster test (issue 12) shares: a real redis-server on a
// free port, relay nodes started on it (plain ones, or sno ones with hosts
// and users), pusher-js clients on those nodes, sno agents, a loopback load
// balancer in front of nodes, and one stop() that ends them all by PID,
// each attempted even when another fails (a node left paused by SIGSTOP is
// woken first); a node's failed stop (exit status, sanitizer report) is
// thrown once everything is stopped.
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
const { connectPusher, eventBarrier, disconnectAll } = require('./clients');
const { request } = require('./http');
const { redisServer } = require('./redis');
const { startLb } = require('./lb');
const sno = require('./sno');

// True when the relay's /readyz says ready: Redis reachable, lease held.
async function ready(relay) {
  return (await request(relay.port, 'GET', '/readyz')).status === 200;
}

// Every client in cs got a fresh `barrier` event on channel, sent through
// sdk: what Redis ordered before it on that channel has been delivered.
function barrier(sdk, channel, cs) {
  return eventBarrier(sdk, channel, cs, 5000);
}

async function startCluster() {
  const redis = await redisServer();
  const nodes = [];
  const clients = [];
  const agents = [];
  const lbs = [];
  const joined = async (id, r) => {
    nodes.push(r);
    await waitFor(() => ready(r), 5000, `${id} ready`);
    return r;
  };
  const cluster = {
    redis,
    nodes,
    // redis-cli against the cluster's Redis; its output, trimmed.
    cli(...args) {
      return execFileSync('redis-cli', ['-p', String(redis.port), ...args],
        { encoding: 'utf8', timeout: 5000 }).trim();
    },
    // cli's answer as a number (HLEN, ZCARD...).
    num(...args) {
      return Number(cluster.cli(...args));
    },
    // A relay node on this Redis (opts as startRelay's; opts.relay merged
    // over the Redis keys), resolved once its /readyz says ready. With no
    // id (null) the node has the default node_id.
    node(id, opts = {}) {
      const relay = { redis: redis.url, ...(id ? { node_id: id } : {}),
        ...(opts.relay || {}) };
      return startRelay({ ...opts, relay }).then((r) => joined(id || 'node', r));
    },
    // A relay node with sno's accounts, users and hosts (lib/sno.js
    // startSnoRelay; opts.relay merged over the Redis keys), once ready.
    snoNode(id, hosts, opts = {}) {
      const relay = { redis: redis.url, node_id: id, ...(opts.relay || {}) };
      return sno.startSnoRelay(hosts, { ...opts, relay }).then((r) => {
        r.ownDir = !opts.dir; // stopRelay removes it
        return joined(id, r);
      });
    },
    // A pusher-js client on relay (opts as connectPusher's), closed by stop().
    async client(relay, opts) {
      const c = await connectPusher(relay, opts);
      clients.push(c);
      return c;
    },
    // A pusher-js client of the metrics app (sno.connectMetricsPusher).
    async metricsClient(relay, opts) {
      const c = await sno.connectMetricsPusher(relay, opts);
      clients.push(c);
      return c;
    },
    // A real sno-agent for host whose relay_url lists relays in order.
    async agent(relays, host, opts = {}) {
      const url = relays.map((r) => `http://127.0.0.1:${r.port}`).join(',');
      const a = await sno.startAgent(relays[0].port, host, { url, ...opts });
      agents.push(a);
      return a;
    },
    // A TCP load balancer (lib/lb.js) in front of relays.
    async lb(relays) {
      const l = await startLb(relays.map((r) => r.port));
      lbs.push(l);
      return l;
    },
    // Stops clients, agents, balancers, nodes and Redis; every stop is
    // attempted, then the first failure is thrown.
    async stop() {
      disconnectAll(clients);
      const stops = [];
      stops.push(...await Promise.allSettled(agents.map((a) => sno.stopDaemon(a))));
      stops.push(...await Promise.allSettled(lbs.map((l) => l.close())));
      stops.push(...await Promise.allSettled(nodes.map(async (r) => {
        try { process.kill(r.pid, 'SIGCONT'); } catch (_) { /* gone */ }
        if (r.alive()) await stopRelay(r);
        else fs.rmSync(r.dir, { recursive: true, force: true });
      })));
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
