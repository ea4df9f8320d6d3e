/**
 * The broker side of the pairs benchmark, run as a child process so the load generator does not
 * share its event loop: a broker on an ephemeral port with the chosen authorizer, the platform's
 * things and channels, and its own CPU time measured between the parent's `start` and `stop`.
 *
 *   mode: allow-all | platform | platform-uncached-broker
 */
import { createBroker } from '../../broker/index.js';
import { benchPlatform } from './fixture.js';

type Mode = 'allow-all' | 'platform' | 'platform-uncached-broker';

const mode = (process.argv[2] ?? 'platform') as Mode;
const pairs = Number(process.argv[3] ?? 50);
const send = (m: unknown): void => {
  process.send?.(m);
};

const fixture = await benchPlatform(pairs);
const broker = createBroker({
  host: '127.0.0.1',
  mqtt: { port: 0 },
  ...(mode !== 'allow-all' && { authorizer: fixture.platform.authorizer }),
  // The broker caches publish decisions per connection; with 0 every publish reaches the platform authorizer.
  ...(mode === 'platform-uncached-broker' && { limits: { authorizationCacheTtlMs: 0 } }),
});
if (mode !== 'allow-all') fixture.platform.attachBroker(broker);
const { mqtt } = await broker.listen();

let cpu: NodeJS.CpuUsage | null = null;
let wall = 0;
process.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'start') {
    cpu = process.cpuUsage();
    wall = performance.now();
    send({ cmd: 'started' });
  } else if (m.cmd === 'stop') {
    const used = process.cpuUsage(cpu ?? undefined);
    send({ cmd: 'stopped', cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - wall });
  } else if (m.cmd === 'exit') {
    await broker.close();
    await fixture.close();
    process.exit(0);
  }
});
send({ cmd: 'ready', port: mqtt!.port, things: fixture.things });
