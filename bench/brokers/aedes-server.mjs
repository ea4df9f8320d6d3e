// Minimal Aedes 1.2.0 MQTT server for the benchmark comparison: in-memory persistence (the
// default), plain TCP via node:net, nothing else. Aedes 1.x is ESM-only and its default export
// is gone: the broker is created with `await Aedes.createBroker()`.
//
//   node bench/brokers/aedes-server.mjs --host 127.0.0.1 --port 1883 [--nodelay] [--exit-on-stdin-close]
//
// Prints one JSON line {"msg":"listening","protocol":"mqtt","port":N} when ready (port 0 picks
// a free port). Exits on SIGTERM/SIGINT, and with --exit-on-stdin-close when its stdin pipe
// closes (the parent died), so an orphaned benchmark broker does not linger.

import net from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '1883' },
    nodelay: { type: 'boolean', default: false },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
});

const broker = await Aedes.createBroker();
const server = net.createServer({ noDelay: values.nodelay }, broker.handle);

let stopping = false;
function shutdown(code) {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(code), 2000);
  force.unref();
  server.close();
  broker.close(() => process.exit(code));
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (values['exit-on-stdin-close']) {
  process.stdin.on('end', () => shutdown(0));
  process.stdin.on('error', () => shutdown(0));
  process.stdin.resume();
}

server.on('error', (err) => {
  process.stderr.write(`aedes-server: ${err.message}\n`);
  shutdown(1);
});
server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : Number(values.port);
  process.stdout.write(
    `${JSON.stringify({ msg: 'listening', protocol: 'mqtt', port, aedes: broker.version })}\n`,
  );
});
