'use strict';
// Issue 12 ("Pusher features done once": watchlist events), on one node: a
// signin with a watchlist gets pusher_internal:watchlist_events, an online
// event for the watched users signed in then, then online when a watched
// user signs in for the first time and offline when its last connection
// is gone (pusher-js pusher.user.watchlist); over 100 ids, the first 100
// are watched and pusher:error 4302 says so.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, messages, waitMessage, disconnectAll, waitFor,
} = require('./lib');

let relay;
const clients = [];

before(async () => {
  relay = await startRelay();
});

after(async () => {
  disconnectAll(clients);
  await stopRelay(relay);
});

// A pusher-js client signed in as id (with watchlist, if given); its
// watchlist events are collected in .watch as [name, ids].
async function signedIn(id, watchlist) {
  const c = await connectPusher(relay, { signinUser: watchlist ? { id, watchlist } : { id } });
  clients.push(c);
  c.watch = [];
  c.user.watchlist.bind('online', (e) => c.watch.push(['online', e.user_ids]));
  c.user.watchlist.bind('offline', (e) => c.watch.push(['offline', e.user_ids]));
  c.signin();
  await waitMessage(c, 'pusher:signin_success', undefined, 3000);
  return c;
}

function has(c, name, id) {
  return c.watch.some(([n, ids]) => n === name && ids.includes(id));
}

test('watchers_are_told_who_is_online_and_each_change', async () => {
  const a1 = await signedIn('a1');
  const w = await signedIn('w1', ['a1', 'a2', 'a3']);
  await waitFor(() => has(w, 'online', 'a1'), 3000, 'a1 online at signin');
  assert.deepEqual(w.watch, [['online', ['a1']]]);

  const a2 = await signedIn('a2');
  await waitFor(() => has(w, 'online', 'a2'), 3000, 'a2 online');
  const a1b = await signedIn('a1'); // a second connection: no event
  a2.disconnect();
  await waitFor(() => has(w, 'offline', 'a2'), 3000, 'a2 offline');
  a1.disconnect();
  const marker = await signedIn('a3');
  await waitFor(() => has(w, 'online', 'a3'), 3000, 'a3 online');
  assert.ok(!has(w, 'offline', 'a1'), 'a1 is still online on its second connection');
  a1b.disconnect();
  await waitFor(() => has(w, 'offline', 'a1'), 3000, 'a1 offline with its last connection');
  assert.deepEqual(w.watch.map(([n, ids]) => `${n}:${ids}`),
    ['online:a1', 'online:a2', 'offline:a2', 'online:a3', 'offline:a1']);
  assert.equal(marker.connection.state, 'connected');
});

test('over_100_ids_the_first_100_are_watched_with_error_4302', async () => {
  const ids = Array.from({ length: 101 }, (_, i) => `m${i}`);
  const w = await signedIn('w2', ids);
  const err = await waitMessage(w, 'pusher:error', undefined, 3000);
  assert.equal(err.data.code, 4302);
  await signedIn('m100'); // the 101st: not watched
  await signedIn('m99');
  await waitFor(() => has(w, 'online', 'm99'), 3000, 'm99 online');
  assert.ok(!has(w, 'online', 'm100'));
  assert.equal(messages(w, 'pusher:signin_success').length, 1);
});
