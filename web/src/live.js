// The one pusher-js connection to the relay (same host and port as the
// page) and the per-host subscription that starts and follows a realtime
// session: subscribing to private-host-{id} is the request to stream.
import Pusher from 'pusher-js';

let pusher = null;
let pusherKey = null;
const listeners = new Set();

export function connection(appKey) {
  if (pusher && pusherKey === appKey) return pusher;
  disconnect();
  const tls = location.protocol === 'https:';
  const port = Number(location.port) || (tls ? 443 : 80);
  pusherKey = appKey;
  pusher = new Pusher(appKey, {
    wsHost: location.hostname,
    wsPort: port,
    wssPort: port,
    forceTLS: tls,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
    cluster: 'sno',
    channelAuthorization: { endpoint: '/api/v1/pusher/auth', transport: 'ajax' },
  });
  pusher.connection.bind('state_change', ({ current }) => {
    for (const fn of listeners) fn(current);
  });
  return pusher;
}

export function disconnect() {
  if (pusher) pusher.disconnect();
  pusher = null;
  pusherKey = null;
}

// pusher-js states: initialized, connecting, connected, unavailable,
// failed, disconnected.
export function connectionState() {
  return pusher ? pusher.connection.state : 'disconnected';
}

export function onConnectionState(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function parse(d) {
  if (typeof d !== 'string') return d;
  try {
    return JSON.parse(d);
  } catch (e) {
    return null;
  }
}

/*
 * A subscription to one host's channel. on: {sample(s), session(info),
 * subscribed(), error(status)}. subscribed() also fires after pusher-js
 * resubscribes on a reconnect, which is when missed samples are fetched.
 */
export class HostStream {
  constructor(appKey, hostId, on) {
    this.pusher = connection(appKey);
    this.name = `private-host-${hostId}`;
    this.on = on;
    this.channel = null;
  }

  start() {
    if (this.channel) return;
    const ch = this.pusher.subscribe(this.name);
    ch.bind('sample', (d) => {
      const s = parse(d);
      if (s) this.on.sample(s);
    });
    ch.bind('session', (d) => {
      const s = parse(d);
      if (s) this.on.session(s);
    });
    ch.bind('pusher:subscription_succeeded', () => this.on.subscribed());
    ch.bind('pusher:subscription_error', (e) => this.on.error((e && e.status) || 0));
    this.channel = ch;
  }

  stop() {
    if (!this.channel) return;
    this.channel.unbind_all();
    this.pusher.unsubscribe(this.name);
    this.channel = null;
  }

  // A new session after the previous one hit its cap.
  restart() {
    this.stop();
    this.start();
  }
}
