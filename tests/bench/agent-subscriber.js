'use strict';
// Subscriber for tests/bench/agent.sh: a pusher-js client on the metrics app,
// authorised with the `pusher` SDK (the secret of the relay config), that
// subscribes to private-host-HOST and prints one line per `sample` event:
//   sample ARRIVAL_MS SEQ AGENT_CPU AGENT_RSS COLLECT_US BYTES
// It prints "subscribed" once the relay confirmed the subscription and exits
// on SIGTERM (the script stops it by PID), or after 240 s at the latest.
//
// usage: node agent-subscriber.js PORT APP_ID KEY SECRET HOST
const path = require('node:path');

const nm = path.resolve(__dirname, '../integration/node_modules');
const PusherClient = require(path.join(nm, 'pusher-js'));
const PusherServer = require(path.join(nm, 'pusher'));

const [port, appId, key, secret, host] = process.argv.slice(2);
if (!host) {
  process.stderr.write('usage: node agent-subscriber.js PORT APP_ID KEY SECRET HOST\n');
  process.exit(2);
}
const channel = `private-host-${host}`;
const signer = new PusherServer({ appId, key, secret, host: '127.0.0.1', port: Number(port) });

PusherClient.logToConsole = false;
const client = new PusherClient(key, {
  wsHost: '127.0.0.1',
  wsPort: Number(port),
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  cluster: 'x',
  activityTimeout: 120000,
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, cb) => {
      try {
        cb(null, signer.authorizeChannel(socketId, channelName));
      } catch (e) {
        cb(e, null);
      }
    },
  },
});

const out = (s) => process.stdout.write(`${s}\n`);
client.connection.bind('message', (m) => {
  if (m.channel !== channel) return;
  if (m.event === 'pusher_internal:subscription_succeeded') {
    out('subscribed');
  } else if (m.event === 'pusher:subscription_error') {
    out(`error subscription ${JSON.stringify(m.data)}`);
  } else if (m.event === 'sample') {
    const raw = typeof m.data === 'string' ? m.data : JSON.stringify(m.data);
    let s;
    try {
      s = JSON.parse(raw);
    } catch (_) {
      out('error unparsable sample');
      return;
    }
    const a = s.agent || {};
    out(`sample ${Date.now()} ${s.seq} ${a.cpu} ${a.rss} ${a.collect_us} ${raw.length} ` +
      `${a.pss} ${a.uss}`);
  }
});
client.connection.bind('error', (e) => out(`error connection ${JSON.stringify(e && e.error)}`));
client.subscribe(channel);

function bye() {
  try {
    client.disconnect();
  } catch (_) {
    /* gone */
  }
  process.exit(0);
}
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
// Backstop: the bench never runs this long.
setTimeout(bye, 240000);
