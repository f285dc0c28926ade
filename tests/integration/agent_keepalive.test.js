'use strict';
// The agent's HTTP client (agent/uplink.c) against peers that behave the
// way proxies and load balancers in front of a relay do, which the real
// relay never does on its own: a kept-alive connection closed just as the
// next request arrives (the agent must sign the request again and send it
// once more on a new connection, losing and repeating nothing), answers
// with chunked bodies, and "Connection: close" after every answer. The
// peer is a small node HTTP server on 127.0.0.1 speaking the agent API and
// checking every signature and timestamp as the relay does; the agent is
// the real sno-agent, stopped by its PID.
const { test, after } = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const { waitFor, freePort } = require('./lib/wait');
const sno = require('./lib/sno');

const agents = [];
const servers = [];

after(async () => {
  for (const a of agents) await a.stop();
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
});

/*
 * An agent API peer for host. mode.dropSecond: on each connection, answer
 * the first request and close the connection when the second arrives,
 * unanswered. mode.chunked: answer in two writes (chunked encoding).
 * mode.close: "Connection: close" on every answer.
 */
async function startPeer(host, mode) {
  const st = { seqs: [], stamps: [], conns: 0, drops: 0, refused: [] };
  let lastTs = 0;
  const srv = http.createServer((req, res) => {
    const sock = req.socket;
    sock.served = (sock.served || 0) + 1;
    if (mode.dropSecond && sock.served === 2) {
      st.drops++;
      sock.destroy();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const ts = Number(req.headers['x-sno-timestamp']);
      const want = sno.agentSignature(host.key, 'POST', req.url, String(ts), body);
      if (req.headers['x-sno-signature'] !== want || !(ts > lastTs)) {
        st.refused.push(`${req.url} ts=${ts} last=${lastTs}`);
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"bad signature or replayed timestamp"}');
        return;
      }
      lastTs = ts;
      st.stamps.push(ts);
      let answer = { stream: true };
      if (req.url === '/agent/v1/samples') {
        const batch = JSON.parse(body);
        for (const s of batch) st.seqs.push(s.seq);
        answer = { stream: true, acked_seq: batch[batch.length - 1].seq };
      }
      const text = JSON.stringify(answer);
      const headers = { 'content-type': 'application/json' };
      if (mode.close) headers.connection = 'close';
      res.writeHead(200, headers);
      if (mode.chunked) {
        res.write(text.slice(0, 5));
        res.end(text.slice(5));
      } else {
        res.end(text);
      }
    });
  });
  srv.on('connection', () => {
    st.conns++;
  });
  const port = await freePort();
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  servers.push(srv);
  st.port = port;
  return st;
}

async function streamFor(name, mode, nSamples) {
  const host = sno.newHost(name, 'acme');
  const peer = await startPeer(host, mode);
  const agent = await sno.startAgent(peer.port, host);
  agents.push(agent);
  const diag = () => `\npeer: ${JSON.stringify(peer)}\n--- agent stderr ---\n${agent.stderr}`;
  await waitFor(() => peer.seqs.length >= nSamples, nSamples * 1000 + 5000,
    `${nSamples} samples${diag()}`);
  await agent.stop();
  assert.strictEqual(agent.exit.code, 0, `agent exit ${JSON.stringify(agent.exit)}${diag()}`);
  for (let i = 1; i < peer.seqs.length; i++) {
    assert.strictEqual(peer.seqs[i], peer.seqs[i - 1] + 1,
      `seq ${peer.seqs[i - 1]} followed by ${peer.seqs[i]}${diag()}`);
  }
  assert.deepStrictEqual(peer.refused, [], `refused requests${diag()}`);
  return { peer, agent, diag };
}

test('kept_connection_closed_under_a_request_is_resent_signed_anew', async () => {
  const { peer, agent, diag } = await streamFor('KA', { dropSecond: true }, 5);
  // Every connection served one request and dropped the next: each drop
  // was followed by a retry on a new connection that got through.
  assert.ok(peer.drops >= 4, `drops ${peer.drops}${diag()}`);
  assert.ok(peer.conns >= peer.drops + 1, `connections ${peer.conns}${diag()}`);
  assert.doesNotMatch(agent.stderr, /unreachable|failed/,
    `a retried request must not show as a failure${diag()}`);
});

test('chunked_answers_are_read_and_the_connection_kept', async () => {
  const { peer, diag } = await streamFor('KC', { chunked: true }, 4);
  // One check-in and four or more sample posts over a single connection.
  assert.strictEqual(peer.conns, 1, `connections ${peer.conns}${diag()}`);
  assert.ok(peer.stamps.length >= 5, `requests ${peer.stamps.length}${diag()}`);
});

test('connection_close_answers_reconnect_each_time', async () => {
  const { peer, agent, diag } = await streamFor('KX', { close: true }, 4);
  assert.strictEqual(peer.conns, peer.stamps.length,
    `one connection per request: ${peer.conns} vs ${peer.stamps.length}${diag()}`);
  assert.doesNotMatch(agent.stderr, /unreachable|failed/, diag());
});
