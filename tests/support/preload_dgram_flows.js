// preload_dgram_flows.js - the UDP flows client in Node.js: dgram's socket.connect() per flow
// (libuv binds the socket to 0.0.0.0:0 first, then connects). Each connected flow sends its own
// token and must get it back. Arguments: DSTS(comma-separated) PORT PER. Prints one line:
//   connected=N unique=N echoed=N error=NAME
'use strict';
const dgram = require('dgram');
const [dsts, port, per] = [process.argv[2].split(','), +process.argv[3], +process.argv[4]];
let connected = 0, echoed = 0, pending = dsts.length * per, error = 'none';
const tuples = new Set();
const sockets = [];

function done() {
  if (--pending > 0) return;
  setTimeout(() => {
    console.log(`connected=${connected} unique=${tuples.size} echoed=${echoed} error=${error}`);
    for (const s of sockets) s.close();
  }, 1500);
}

let n = 0;
for (const d of dsts) {
  for (let i = 0; i < per; ++i) {
    const s = dgram.createSocket('udp4');
    const token = `flow-${n++}`;
    sockets.push(s);
    let settled = false;
    const settle = () => { if (!settled) { settled = true; done(); } };
    s.on('error', (e) => { error = e.code; settle(); });
    s.on('message', (m) => { if (m.toString() === token) ++echoed; });
    s.connect(port, d, (err) => {
      if (err) {
        error = err.code;
        return settle();
      }
      ++connected;
      const a = s.address(), r = s.remoteAddress();
      tuples.add(`${a.address}:${a.port}-${r.address}:${r.port}`);
      s.send(token);
      settle();
    });
  }
}
