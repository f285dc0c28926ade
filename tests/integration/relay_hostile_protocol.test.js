'use strict';
// Issue 9, protocol-level defects, against a real relay over pusher-js, the
// pusher SDK and a raw websocket: private channels authorised with
// channel_data (3), error texts never cut inside a UTF-8 character (4), a NUL
// in data is never cut (5), the subscription cap per connection (9), the
// 164-character channel name on subscribe (11) and duplicate keys (14).
// After every case the relay answers /healthz and a healthy pusher-js client
// still gets a published event.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, subscribe, messages,
  waitMessage, disconnectAll, waitFor, signedRequest, request, PusherClient,
  rawSubscribe,
} = require('./lib');

let relay;
let capped;
let sdk;
let healthy;
const clients = [];

before(async () => {
  relay = await startRelay();
  sdk = sdkFor(relay);
  healthy = await connectPusher(relay);
  await subscribe(healthy, 'health');
});

after(async () => {
  disconnectAll(clients);
  if (healthy) healthy.disconnect();
  await stopRelay(relay);
  if (capped) await stopRelay(capped);
});

afterEach(async () => {
  assert.ok(relay.alive(), `relay died: ${JSON.stringify(relay.exitInfo())}\n${relay.logs()}`);
  const h = await request(relay.port, 'GET', '/healthz');
  assert.equal(h.status, 200);
  const tag = `t${Date.now()}${Math.random()}`;
  await sdk.trigger('health', 'check', { tag });
  await waitMessage(healthy, 'check', 'health', 2000, (m) => m.data.tag === tag);
  assert.equal(healthy.connection.state, 'connected');
});

async function raw(r = relay) {
  const c = await connectRaw(r);
  clients.push(c);
  return c;
}

// Waits until the relay has answered everything sent on c so far: it
// subscribes to a fresh channel and waits for the answer, which comes in
// order (a pong would not do: the relay sends pongs ahead of its backlog).
// Returns the messages between from and that answer.
async function answered(c, from) {
  assert.ok(c.isOpen(), `connection closed: ${JSON.stringify(c.closed)}`);
  const mark = `barrier-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  c.send({ event: 'pusher:subscribe', data: { channel: mark } });
  const end = await waitFor(() => c.msgs.slice(from).find((m) => m.channel === mark),
    3000, `answer to the barrier (got ${JSON.stringify(c.msgs.slice(from))}, ` +
    `closed ${JSON.stringify(c.closed)})`);
  return c.msgs.slice(from, c.msgs.indexOf(end));
}

function authFor(socketId, channel, channelData) {
  return sdk.authorizeChannel(socketId, channel, channelData).auth;
}

// ---- 3: private channels authorised with channel_data ----

test('private_channel_authorised_with_channel_data_is_accepted', async () => {
  // An auth endpoint that adds channel_data to every channel, as Pusher's
  // own integration-test server does; pusher-js then sends it along.
  const client = new PusherClient(relay.app.key, {
    wsHost: '127.0.0.1', wsPort: relay.port, forceTLS: false, enabledTransports: ['ws'],
    disableStats: true, cluster: 'x',
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        cb(null, sdk.authorizeChannel(socketId, channelName,
          { user_id: 'u1', user_info: { name: 'Ann' } }));
      },
    },
  });
  client.received = [];
  client.connection.bind('message', (m) => client.received.push(m));
  clients.push(client);
  await waitFor(() => client.connection.state === 'connected', 5000, 'pusher-js connected');
  await subscribe(client, 'private-with-data');
  assert.deepEqual(messages(client, 'pusher:subscription_error', 'private-with-data'), [],
    'refused a private channel signed over socket_id:channel:channel_data');
  await sdk.trigger('private-with-data', 'hello', { n: 1 });
  await waitMessage(client, 'hello', 'private-with-data', 3000);
});

test('private_refusals_say_what_was_checked', async () => {
  const c = await raw();
  const sid = c.socketId;
  // Signed without channel_data but sent with it: checked over the three parts.
  const withData = await rawSubscribe(c, 'private-r1',
    { auth: authFor(sid, 'private-r1'), channel_data: '{"user_id":"x"}' });
  assert.equal(withData.event, 'pusher:subscription_error', JSON.stringify(withData));
  assert.match(withData.data.error, new RegExp(`"${sid}:private-r1:<channel_data>"`));
  // Signed with channel_data but sent without it: checked over two parts.
  const without = await rawSubscribe(c, 'private-r2',
    { auth: authFor(sid, 'private-r2', { user_id: 'x' }) });
  assert.equal(without.event, 'pusher:subscription_error', JSON.stringify(without));
  assert.match(without.data.error, new RegExp(`"${sid}:private-r2"`));
  assert.doesNotMatch(without.data.error, /channel_data/);
  // Presence with channel_data signed by another secret.
  const pres = await rawSubscribe(c, 'presence-r3', {
    auth: `${relay.app.key}:${'0'.repeat(64)}`, channel_data: '{"user_id":"x"}' });
  assert.equal(pres.event, 'pusher:subscription_error', JSON.stringify(pres));
  assert.match(pres.data.error, new RegExp(`"${sid}:presence-r3:<channel_data>"`));
});

// ---- 4: error texts are never cut inside a UTF-8 character ----

function assertCleanUtf8(buf, what) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch (_) {
    assert.fail(`${what} is not valid UTF-8: ${buf.toString('latin1').slice(-80)}`);
  }
}

test('error_texts_with_long_multibyte_names_stay_valid_utf8', async () => {
  const c = await raw();
  const e150 = 'é'.repeat(150);
  const from = c.msgs.length;
  c.send(`{"event":"a${e150}","data":{}}`); // Unsupported event ...
  c.send(`{"event":"pusher:${e150}","data":1}`); // ... needs an object in data
  c.send({ event: 'client-x', channel: `private-${e150}`, data: {} });
  c.send({ event: 'client-x', data: {} });
  c.send({ event: `client-${e150}`, data: {} }); // Client event ... needs a channel
  c.send({ event: 'pusher:subscribe', data: { channel: `private-${e150}`, auth: 'x:y' } });
  const got = await answered(c, from);
  assert.ok(got.filter((m) => m.event === 'pusher:error').length >= 4, JSON.stringify(got));
  for (const t of c.texts) assertCleanUtf8(Buffer.from(t.text, 'utf8'), 'a frame');
  assert.equal(c.closed, null);

  // The HTTP API's errors, too.
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channel: e150 });
  assert.equal(res.status, 400, res.body);
  assert.ok(!res.body.includes('\ufffd'), `HTTP error body has a cut character: ${res.body}`);
  const nf = await signedRequest(relay, 'GET', `/apps/1/${encodeURIComponent(e150)}`);
  assert.ok(!nf.body.includes('\ufffd'), `HTTP error body has a cut character: ${nf.body}`);
  // And the log (read as UTF-8: a cut character shows as U+FFFD).
  assert.ok(!relay.logs().includes('\ufffd'),
    `the log has a cut character: ${relay.logs().split('\n').filter((l) => l.includes('\ufffd'))[0]}`);
});

// ---- 5: a NUL inside a data string is never cut ----

test('nul_in_http_api_data_is_delivered_intact_or_refused', async () => {
  const from = healthy.received.length;
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'nul', channel: 'health', data: 'before\u0000after' });
  if (res.status === 200) {
    const m = await waitMessage(healthy, 'nul', 'health', 3000);
    assert.equal(m.data, 'before\u0000after');
    return;
  }
  assert.equal(res.status, 400, res.body);
  assert.match(res.json.error, /NUL/);
  // Nothing was published: a later event arrives with no `nul` before it.
  await sdk.trigger('health', 'after-nul', {});
  await waitMessage(healthy, 'after-nul', 'health', 3000);
  assert.deepEqual(messages({ received: healthy.received.slice(from) }, 'nul'), []);
});

test('nul_in_client_event_data_is_delivered_intact_or_refused', async () => {
  const a = await raw();
  const b = await raw();
  for (const c of [a, b]) {
    const r = await rawSubscribe(c, 'private-nul', { auth: authFor(c.socketId, 'private-nul') });
    assert.equal(r.event, 'pusher_internal:subscription_succeeded', JSON.stringify(r));
  }
  const fromA = a.msgs.length;
  a.send({ event: 'client-nul', channel: 'private-nul', data: { s: 'before\u0000after' } });
  a.send({ event: 'client-ok', channel: 'private-nul', data: {} });
  await waitMessage(b, 'client-ok', 'private-nul', 3000);
  const got = messages(b, 'client-nul', 'private-nul');
  if (got.length) {
    assert.deepEqual(got[0].data, { s: 'before\u0000after' });
  } else {
    const err = a.msgs.slice(fromA).find((m) => m.event === 'pusher:error');
    assert.ok(err, 'client-nul vanished without an error');
    assert.match(err.data.message, /NUL/);
  }
});

// ---- 9: subscriptions per connection are capped ----

test('subscriptions_beyond_the_cap_are_refused_per_channel', async () => {
  capped = await startRelay({ relay: { max_subscriptions_per_connection: 3 } });
  const c = await raw(capped);
  for (const n of [1, 2, 3]) {
    const r = await rawSubscribe(c, `cap-${n}`);
    assert.equal(r.event, 'pusher_internal:subscription_succeeded', JSON.stringify(r));
  }
  const r = await rawSubscribe(c, 'cap-4');
  assert.equal(r.event, 'pusher:subscription_error', JSON.stringify(r));
  assert.equal(r.data.type, 'LimitReached');
  assert.match(r.data.error, /3/);
  // The connection stays, its subscriptions still work, and one freed
  // slot can be used again.
  await answered(c, c.msgs.length);
  await sdkFor(capped).trigger('cap-2', 'still', {});
  await waitMessage(c, 'still', 'cap-2', 3000);
  c.send({ event: 'pusher:unsubscribe', data: { channel: 'cap-1' } });
  const again = await rawSubscribe(c, 'cap-5');
  assert.equal(again.event, 'pusher_internal:subscription_succeeded', JSON.stringify(again));
});

test('default_cap_is_1000_subscriptions', async () => {
  const c = await raw();
  for (let i = 0; i < 1001; i++) c.send({ event: 'pusher:subscribe', data: { channel: `many-${i}` } });
  await waitFor(() => c.msgs.filter((m) => m.channel && m.channel.startsWith('many-')).length >= 1001,
    20000, '1001 subscription answers');
  const ok = c.msgs.filter((m) => m.event === 'pusher_internal:subscription_succeeded' &&
    m.channel.startsWith('many-'));
  const refused = c.msgs.filter((m) => m.event === 'pusher:subscription_error');
  assert.equal(ok.length, 1000);
  assert.equal(refused.length, 1);
  assert.equal(refused[0].channel, 'many-1000');
  await answered(c, c.msgs.length);
});

// ---- 11: channel names up to 164 characters on subscribe ----

test('subscribe_to_a_165_character_channel_is_refused', async () => {
  const c = await raw();
  const r = await rawSubscribe(c, 'n'.repeat(165));
  assert.equal(r.event, 'pusher:subscription_error', JSON.stringify(r));
  assert.equal(r.data.type, 'InvalidChannel');
  assert.match(r.data.error, /164/);
  const ok = await rawSubscribe(c, 'n'.repeat(164));
  assert.equal(ok.event, 'pusher_internal:subscription_succeeded', JSON.stringify(ok));
  // The HTTP API keeps 200, as the SDKs do.
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channel: 'n'.repeat(200) });
  assert.equal(res.status, 200, res.body);
});

// ---- 14: duplicate keys are refused ----

test('duplicate_keys_in_pusher_messages_are_refused', async () => {
  const c = await raw();
  const from = c.msgs.length;
  c.send('{"event":"pusher:subscribe","data":{"channel":"dup-a","channel":"dup-b"}}');
  c.send('{"event":"pusher:subscribe","event":"pusher:ping","data":{"channel":"dup-c"}}');
  const got = await answered(c, from);
  assert.deepEqual(got.filter((m) => m.event === 'pusher_internal:subscription_succeeded'), [],
    `a message with duplicate keys was acted on: ${JSON.stringify(got)}`);
  assert.ok(got.filter((m) => m.event === 'pusher:error' ||
    m.event === 'pusher:subscription_error').length >= 2, JSON.stringify(got));
});

test('presence_channel_data_with_duplicate_user_id_is_refused', async () => {
  const c = await raw();
  const cd = '{"user_id":"a","user_info":{},"user_id":"b"}';
  const crypto = require('node:crypto');
  const sig = crypto.createHmac('sha256', relay.app.secret)
    .update(`${c.socketId}:presence-dup2:${cd}`).digest('hex');
  const r = await rawSubscribe(c, 'presence-dup2', { auth: `${relay.app.key}:${sig}`, channel_data: cd });
  assert.equal(r.event, 'pusher:subscription_error', JSON.stringify(r));
  assert.match(r.data.error, /duplicate/i);
});

test('duplicate_keys_in_http_api_bodies_are_400', async () => {
  const from = healthy.received.length;
  const res = await signedRequest(relay, 'POST', '/apps/1/events',
    '{"name":"dup","channel":"health","data":"{}","name":"dup2"}');
  assert.equal(res.status, 400, res.body);
  assert.match(res.json.error, /duplicate key "name"/i);
  const batch = await signedRequest(relay, 'POST', '/apps/1/batch_events',
    '{"batch":[{"name":"dup","channel":"health","data":"{}","channel":"other"}]}');
  assert.equal(batch.status, 400, batch.body);
  await sdk.trigger('health', 'after-dup', {});
  await waitMessage(healthy, 'after-dup', 'health', 3000);
  assert.deepEqual(messages({ received: healthy.received.slice(from) }, 'dup'), []);
});

// ---- 5 and 7: data that is not a string goes on as sent ----

test('object_data_is_forwarded_as_sent_not_reprinted', async () => {
  const text = '{"n":9007199254740993,"f":0.1000000000000000055511151231257827}';
  const a = await raw();
  const b = await raw();
  for (const c of [a, b]) {
    const r = await rawSubscribe(c, 'private-exact', { auth: authFor(c.socketId, 'private-exact') });
    assert.equal(r.event, 'pusher_internal:subscription_succeeded', JSON.stringify(r));
  }
  a.send(`{"event":"client-exact","channel":"private-exact","data":${text}}`);
  const ce = await waitMessage(b, 'client-exact', 'private-exact', 3000);
  assert.equal(ce.rawData, text);
  // The HTTP API, single and batch.
  const one = await signedRequest(relay, 'POST', '/apps/1/events',
    `{"name":"exact1","channel":"private-exact","data":${text}}`);
  assert.equal(one.status, 200, one.body);
  assert.equal((await waitMessage(b, 'exact1', 'private-exact', 3000)).rawData, text);
  const batch = await signedRequest(relay, 'POST', '/apps/1/batch_events',
    `{"batch":[{"name":"exact2","channel":"private-exact","data":${text}},` +
    `{"name":"exact3","channel":"private-exact","data":[${text}]}]}`);
  assert.equal(batch.status, 200, batch.body);
  assert.equal((await waitMessage(b, 'exact2', 'private-exact', 3000)).rawData, text);
  assert.equal((await waitMessage(b, 'exact3', 'private-exact', 3000)).rawData, `[${text}]`);
});

test('presence_user_info_as_sent_and_nul_in_channel_data_refused', async () => {
  const crypto = require('node:crypto');
  const sign = (sid, ch, cd) => `${relay.app.key}:` + crypto.createHmac('sha256', relay.app.secret)
    .update(`${sid}:${ch}:${cd}`).digest('hex');
  const c = await raw();
  const cd = '{"user_id":"big","user_info":{"n":9007199254740993}}';
  const r = await rawSubscribe(c, 'presence-exact',
    { auth: sign(c.socketId, 'presence-exact', cd), channel_data: cd });
  assert.equal(r.event, 'pusher_internal:subscription_succeeded', JSON.stringify(r));
  assert.match(r.rawData, /"big":\{"n":9007199254740993\}/);
  // A user id with a NUL would be cut to "a" (another user): refused.
  const nul = '{"user_id":"a\\u0000b"}';
  const n = await rawSubscribe(c, 'presence-nul',
    { auth: sign(c.socketId, 'presence-nul', nul), channel_data: nul });
  assert.equal(n.event, 'pusher:subscription_error', JSON.stringify(n));
  assert.match(n.data.error, /NUL/);
});

// ---- JSON with bytes after the value (attack finding F5) ----

test('json_with_bytes_after_the_value_is_refused', async () => {
  const c = await raw();
  const from = c.msgs.length;
  c.send('{"event":"pusher:ping","data":{}} garbage');
  c.send('{"event":"pusher:subscribe","data":{"channel":"first"}}' +
    '{"event":"pusher:subscribe","data":{"channel":"second"}}');
  c.send('{"event":"pusher:subscribe","data":"{\\"channel\\":\\"third\\"} x"}');
  c.send(' {"event":"pusher:subscribe","data":{"channel":"spaced"}}\r\n\t ');
  const got = await answered(c, from);
  assert.deepEqual(got.filter((m) => m.event === 'pusher:pong'), [],
    `a ping with bytes after it was answered: ${JSON.stringify(got)}`);
  const ok = got.filter((m) => m.event === 'pusher_internal:subscription_succeeded');
  assert.deepEqual(ok.map((m) => m.channel), ['spaced'], JSON.stringify(got));
  const errs = got.filter((m) => m.event === 'pusher:error');
  assert.equal(errs.length, 3, JSON.stringify(got));
  for (const e of errs) assert.match(e.data.message, /bytes after the JSON value/);
  // The HTTP API: 400 with trailing bytes, 200 with trailing whitespace.
  const body = '{"name":"tail","channel":"health","data":"d"}';
  const fromH = healthy.received.length;
  for (const tail of ['xx{"name":"other"}', '{}', ' x']) {
    const res = await signedRequest(relay, 'POST', '/apps/1/events', body + tail);
    assert.equal(res.status, 400, res.body);
    assert.match(res.json.error, /bytes after the JSON value/);
  }
  const batch = await signedRequest(relay, 'POST', '/apps/1/batch_events',
    `{"batch":[${body}]} x`);
  assert.equal(batch.status, 400, batch.body);
  const spaced = await signedRequest(relay, 'POST', '/apps/1/events', `${body}\r\n`);
  assert.equal(spaced.status, 200, spaced.body);
  await waitMessage(healthy, 'tail', 'health', 3000);
  assert.equal(messages({ received: healthy.received.slice(fromH) }, 'tail').length, 1);
});

// ---- numeric presence user_id (attack finding F7) ----

test('numeric_presence_user_id_keeps_its_digits_and_refuses_non_integers', async () => {
  const crypto = require('node:crypto');
  const sign = (sid, ch, cd) => `${relay.app.key}:` + crypto.createHmac('sha256', relay.app.secret)
    .update(`${sid}:${ch}:${cd}`).digest('hex');
  const join = async (ch, cd) => {
    const c = await raw();
    return rawSubscribe(c, ch, { auth: sign(c.socketId, ch, cd), channel_data: cd });
  };
  // 2^53 + 1 and 2^53 are two users, each named by its digits.
  const a = await join('presence-num', '{"user_id":9007199254740993}');
  assert.equal(a.event, 'pusher_internal:subscription_succeeded', JSON.stringify(a));
  assert.deepEqual(a.data.presence.ids, ['9007199254740993']);
  const b = await join('presence-num', '{"user_id":9007199254740992}');
  assert.equal(b.event, 'pusher_internal:subscription_succeeded', JSON.stringify(b));
  assert.deepEqual(b.data.presence.ids.sort(), ['9007199254740992', '9007199254740993']);
  assert.equal(b.data.presence.count, 2);
  for (const id of ['1.5', '1e400', '1e3', '-0.0', '012']) {
    const r = await join('presence-bad-num', `{"user_id":${id}}`);
    assert.equal(r.event, 'pusher:subscription_error', `${id}: ${JSON.stringify(r)}`);
    assert.equal(r.data.type, 'InvalidChannelData');
    assert.match(r.data.error, /integer/);
  }
  const neg = await join('presence-neg', '{"user_id":-42}');
  assert.deepEqual(neg.data.presence.ids, ['-42'], JSON.stringify(neg));
});
