'use strict';
// Issue 12 (docs/scaleout.md, "HTTP API reads"): with two relay nodes on
// one redis-server, GET /channels, /channels/{c} (subscription_count,
// user_count) and /channels/{c}/users give the same cluster-wide answer on
// either node; with Redis down they answer 503 with Retry-After at once.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  subscribe, disconnectAll, waitFor, signedRequest,
} = require('./lib');
const { startCluster, ready } = require('./lib/cluster');

let cluster;
let redis;
let A;
let B;

function client(relay, id) {
  return cluster.client(relay, id ? { user: { user_id: id } } : {});
}

async function get(relay, path, params) {
  return signedRequest(relay, 'GET', `/apps/1${path}`, undefined, { params });
}

// Resolves once path answers want (deepEqual, users sorted by id) on both
// nodes.
async function bothSay(path, params, want) {
  let last;
  const norm = (j) => (j && j.users ?
    { users: [...j.users].sort((x, y) => (x.id < y.id ? -1 : 1)) } : j);
  await waitFor(async () => {
    const ra = await get(A, path, params);
    const rb = await get(B, path, params);
    last = [ra.status, norm(ra.json), rb.status, norm(rb.json)];
    try {
      assert.deepEqual(last, [200, want, 200, want]);
      return true;
    } catch (_) {
      return false;
    }
  }, 5000, `${path} ${JSON.stringify(params)} = ${JSON.stringify(want)} ` +
    'on both nodes').catch((e) => {
    throw new Error(`${e.message}; last: ${JSON.stringify(last)}`);
  });
}

before(async () => {
  cluster = await startCluster();
  redis = cluster.redis;
  A = await cluster.node('relay-a');
  B = await cluster.node('relay-b');
});

after(() => cluster && cluster.stop());

test('channel_reads_give_cluster_wide_counts_on_both_nodes', async () => {
  const a1 = await client(A);
  const a2 = await client(A);
  const b1 = await client(B);
  for (const c of [a1, a2, b1]) await subscribe(c, 'rd-news');
  const p1 = await client(A, 'u1');
  const p2 = await client(B, 'u1');
  const p3 = await client(B, 'u2');
  for (const c of [p1, p2, p3]) await subscribe(c, 'presence-rd');

  await bothSay('/channels', { filter_by_prefix: 'rd-', info: 'subscription_count' },
    { channels: { 'rd-news': { subscription_count: 3 } } });
  await bothSay('/channels', { filter_by_prefix: 'presence-rd', info: 'user_count' },
    { channels: { 'presence-rd': { user_count: 2 } } });
  await bothSay('/channels/rd-news', { info: 'subscription_count' },
    { occupied: true, subscription_count: 3 });
  await bothSay('/channels/presence-rd', { info: 'user_count,subscription_count' },
    { occupied: true, user_count: 2, subscription_count: 3 });
  await bothSay('/channels/presence-rd/users', undefined,
    { users: [{ id: 'u1' }, { id: 'u2' }] });

  // Everyone on B leaves: the counts drop on both nodes.
  for (const c of [b1, p2, p3]) c.disconnect();
  await bothSay('/channels/presence-rd', { info: 'user_count,subscription_count' },
    { occupied: true, user_count: 1, subscription_count: 1 });
  await bothSay('/channels/rd-news', { info: 'subscription_count' },
    { occupied: true, subscription_count: 2 });
  for (const c of [a1, a2, p1]) c.disconnect();
  await bothSay('/channels', { filter_by_prefix: 'rd-' }, { channels: {} });
  await bothSay('/channels/presence-rd/users', undefined, { users: [] });
  await bothSay('/channels/rd-news', undefined, { occupied: false });
});

test('reads_answer_503_with_retry_after_while_redis_is_down', async () => {
  await redis.stop();
  await waitFor(async () => !(await ready(A)) && !(await ready(B)), 10000,
    'both nodes see Redis gone');
  for (const node of [A, B]) {
    for (const path of ['/channels', '/channels/x', '/channels/presence-x/users']) {
      const r = await get(node, path);
      assert.equal(r.status, 503, `${path}: ${r.body}`);
      assert.equal(r.headers['retry-after'], '1');
    }
  }
  await redis.start();
  await waitFor(async () => (await ready(A)) && (await ready(B)), 10000,
    'both nodes back');
  await bothSay('/channels', undefined, { channels: {} });
});

test('redis_restarted_empty_nodes_register_presence_and_counts_again', async () => {
  const pa = await client(A, 'r1');
  const pb = await client(B, 'r2');
  const sb = await client(B);
  await subscribe(pa, 'presence-rs');
  await subscribe(pb, 'presence-rs');
  await subscribe(sb, 'rs-news');
  const want = { occupied: true, user_count: 2, subscription_count: 2 };
  await bothSay('/channels/presence-rs', { info: 'user_count,subscription_count' }, want);
  await redis.stop();
  await waitFor(async () => !(await ready(A)) && !(await ready(B)), 10000,
    'both nodes see Redis gone');
  await redis.start(); // empty: no persistence
  await waitFor(async () => (await ready(A)) && (await ready(B)), 10000,
    'both nodes back');
  await bothSay('/channels/presence-rs', { info: 'user_count,subscription_count' }, want);
  await bothSay('/channels/presence-rs/users', undefined,
    { users: [{ id: 'r1' }, { id: 'r2' }] });
  await bothSay('/channels', { filter_by_prefix: 'rs-', info: 'subscription_count' },
    { channels: { 'rs-news': { subscription_count: 1 } } });
  disconnectAll([pa, pb, sb]);
});
