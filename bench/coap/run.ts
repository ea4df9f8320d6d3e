/**
 * CoAP throughput: OMAP's CoAP front-end against the npm `coap` server doing the same forwarding, in
 * the same run. Each server runs alone, pinned to core 0 (`taskset -c 0`); the load generator runs
 * pinned to core 1. Two measurements per server:
 * - NON publishes/s: open-loop NON POSTs from 16 sockets; counted as deliveries by the server's
 *   in-process subscriber during the window (what the server handled, not what was offered);
 * - CON round trips/s: closed loop, 16 sockets × 4 CON POSTs in flight; counted as 2.04 ACKs received.
 *
 *   npx tsx bench/coap/run.ts [--seconds 5] [--warmup 1] [--sockets 16] [--window 4] [--no-pin]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FromServer, ToServer } from './control.js';
import type { LoadReport } from './load.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SERVERS = { omap: 'omap-server.ts', 'node-coap': 'node-coap-server.ts' } as const;
type ServerName = keyof typeof SERVERS;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    sockets: { type: 'string', default: '16' },
    window: { type: 'string', default: '4' },
    'no-pin': { type: 'boolean', default: false },
  },
});

const pin = !values['no-pin'] && hasTaskset() && cpus().length >= 2;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}

/** Starts `node --import tsx <file>` with an IPC channel, on `cpu` when pinning. */
function start(file: string, args: string[], cpu: number): ChildProcess {
  const node = [process.execPath, '--import', 'tsx', join(HERE, file), ...args];
  const [command, ...rest] = pin ? ['taskset', '-c', String(cpu), ...node] : node;
  return spawn(command!, rest, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(child: ChildProcess, type: string, ms = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" from child within ${ms} ms`)), ms);
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before "${type}"`)));
  });
}

async function count(server: ChildProcess): Promise<Record<string, number>> {
  const reply = nextMessage<Extract<FromServer, { type: 'count' }>>(server, 'count');
  server.send({ type: 'count' } satisfies ToServer);
  return (await reply).counters;
}

interface Measurement {
  mode: 'non' | 'con';
  /** Deliveries into the server's fan-out per second, during the window. */
  deliveredPerSecond: number;
  /** The same per second of server CPU time: what one whole core would do. */
  deliveredPerCpuSecond: number;
  /** Share of one core the server got during the window. */
  serverCpu: number;
  /** Replies the generator received per second (CON: completed round trips). */
  responsesPerSecond: number;
  offeredPerSecond: number;
  stalls: number;
}

async function measure(server: ChildProcess, port: number, mode: 'non' | 'con'): Promise<Measurement> {
  const load = start(
    'load.ts',
    [
      '--port',
      String(port),
      '--mode',
      mode,
      '--seconds',
      values.seconds!,
      '--warmup',
      values.warmup!,
      '--sockets',
      values.sockets!,
      '--window',
      values.window!,
    ],
    1,
  );
  const exited = new Promise<void>((resolve) => load.once('exit', () => resolve()));
  const startEnd = nextMessage<LoadReport>(load, 'window-end', 60_000);
  await nextMessage(load, 'window-start', 30_000);
  const before = await count(server);
  const report = await startEnd;
  const after = await count(server);
  await exited;
  const delivered = after.delivered! - before.delivered!;
  const cpuSeconds = (after.cpuMicros! - before.cpuMicros!) / 1e6;
  return {
    mode,
    deliveredPerSecond: delivered / report.seconds,
    deliveredPerCpuSecond: delivered / cpuSeconds,
    serverCpu: cpuSeconds / report.seconds,
    responsesPerSecond: report.responses / report.seconds,
    offeredPerSecond: report.sent / report.seconds,
    stalls: report.stalls,
  };
}

async function benchmark(name: ServerName): Promise<Measurement[]> {
  const server = start(SERVERS[name], [], 0);
  try {
    const { port } = await nextMessage<Extract<FromServer, { type: 'ready' }>>(server, 'ready');
    return [await measure(server, port, 'non'), await measure(server, port, 'con')];
  } finally {
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.send({ type: 'exit' } satisfies ToServer);
    const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

const k = (n: number) => `${(n / 1000).toFixed(1)}k`;

console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}; ` +
    (pin ? 'server on core 0, load on core 1' : 'NOT pinned (no taskset or one core)') +
    `; ${values.seconds} s windows, ${values.sockets} sockets, CON window ${values.window}/socket`,
);
const rows: [ServerName, Measurement[]][] = [];
for (const name of Object.keys(SERVERS) as ServerName[]) rows.push([name, await benchmark(name)]);

const pct = (n: number) => `${Math.round(n * 100)}%`;
console.log('');
console.log('                    NON publishes/s                      CON round trips/s');
console.log('server       per s  per CPU-s  CPU  offered/s    per s  per CPU-s  CPU  stalls');
for (const [name, [non, con]] of rows) {
  console.log(
    `${name.padEnd(10)} ${k(non!.deliveredPerSecond).padStart(7)} ${k(non!.deliveredPerCpuSecond).padStart(10)}` +
      ` ${pct(non!.serverCpu).padStart(4)} ${k(non!.offeredPerSecond).padStart(10)}` +
      `  ${k(con!.responsesPerSecond).padStart(7)} ${k(con!.deliveredPerCpuSecond).padStart(10)}` +
      ` ${pct(con!.serverCpu).padStart(4)} ${String(con!.stalls).padStart(7)}`,
  );
}
console.log(
  '\nper s: during the window; per CPU-s: per second of the server process CPU time (user + system),\n' +
    'i.e. the rate one dedicated core would give; CPU: share of a core the server got.',
);
