'use strict';
// Step 2 of tests/pkg/run.sh: a dashboard viewer of the packaged relay.
// Logs in as USER on 127.0.0.1:PORT, subscribes to private-host-HOST with
// pusher-js authorised through /api/v1/pusher/auth (as the dashboard does),
// and waits for one `sample` event from the packaged agent. Exit 0 when it
// came, 1 otherwise. Runs where the integration tests' npm packages are.
//   node tests/pkg/watch.js PORT USER PASSWORD HOST [APP_KEY]
const { waitFor } = require('../integration/lib/wait');
const { PusherClient } = require('../integration/lib/clients');
const sno = require('../integration/lib/sno');

async function main() {
  const [port, user, password, host, appKey = 'sno'] = process.argv.slice(2);
  const relay = { port: Number(port), origin: `http://127.0.0.1:${port}` };
  const l = await sno.login(relay, user, password);
  if (l.status !== 200) throw new Error(`login answered ${l.status}: ${l.body}`);
  await waitFor(async () => {
    const r = await sno.api(relay, 'GET', '/api/v1/hosts', { cookie: l.cookie });
    return r.status === 200 && r.json.hosts.some((h) => h.id === host && h.online);
  }, 30000, `${host} to be online (the agent checked in)`);
  const client = new PusherClient(appKey, {
    wsHost: '127.0.0.1', wsPort: relay.port, forceTLS: false, enabledTransports: ['ws'],
    disableStats: true, cluster: 'x',
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        sno.api(relay, 'POST', '/api/v1/pusher/auth', { cookie: l.cookie,
          form: { socket_id: socketId, channel_name: channelName } }).then((r) => {
          if (r.status === 200 && r.json && r.json.auth) cb(null, r.json);
          else cb(new Error(`pusher/auth answered ${r.status}: ${r.body}`), null);
        }, (e) => cb(e, null));
      },
    },
  });
  let sample = null;
  try {
    client.subscribe(`private-host-${host}`).bind('sample', (d) => { sample = d; });
    await waitFor(() => sample, 30000, `a sample on private-host-${host}`);
  } finally {
    client.disconnect();
  }
  const s = typeof sample === 'string' ? JSON.parse(sample) : sample;
  console.log(`watch: sample seq=${s.seq} host=${s.host || host} reached the dashboard`);
}

main().then(() => process.exit(0), (e) => {
  console.log(`watch: ${e.message}`);
  process.exit(1);
});
