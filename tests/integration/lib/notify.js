'use strict';
// The systemd side of sd_notify for tests: a unix datagram socket bound at
// sockPath by a small python3 process (node's dgram has no unix sockets).
// Each datagram becomes one string in .lines; stop() kills it by PID.
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { waitFor } = require('./wait');

const PY = 'import socket,sys,json\n' +
  's=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n' +
  's.bind(sys.argv[1])\nprint("bound",flush=True)\n' +
  'while True:\n  print(json.dumps(s.recv(4096).decode()),flush=True)\n';

function startNotifyListener(sockPath) {
  const child = spawn('python3', ['-c', PY, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const st = { child, lines: [], text: '', path: sockPath };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    st.text += d;
    const parts = st.text.split('\n');
    st.text = parts.pop();
    for (const p of parts) if (p !== 'bound') st.lines.push(JSON.parse(p));
  });
  st.bound = waitFor(() => fs.existsSync(sockPath), 10000, 'notify socket bound');
  st.stop = () => {
    try {
      child.kill('SIGKILL');
    } catch (_) {
      /* gone */
    }
  };
  process.on('exit', st.stop);
  return st;
}

module.exports = { startNotifyListener };
