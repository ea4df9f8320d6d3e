/**
 * HTTP front-end benchmark: OMAP (uWebSockets.js) against a node:http server doing the same
 * publish work, and WebSocket fan-out to 50 subscribers. Each server runs alone, pinned to core 0
 * with taskset; the load generator (wrk, or the fan-out client) is pinned to core 1. Servers are
 * interleaved across runs; the table shows medians (and the range).
 *
 *   npx tsx bench/http/run.ts [--duration 5] [--runs 3] [--connections 50] [--subscribers 50]
 *
 * HTTP: `wrk -t1 -c50 -d5s --latency -s bench/http/post.lua` (keep-alive; a 72-byte SenML JSON
 * body with `Authorization: Thing <secret>`; every answer must be 202). Server CPU time is read
 * from /proc so requests per CPU-second can be compared even when the box is noisy.
 * Every process this script starts is stopped by its own process group, also on errors.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    subscribers: { type: 'string', default: '50' },
    'server-cpu': { type: 'string', default: '0' },
    'load-cpu': { type: 'string', default: '1' },
  },
});
const duration = Number(values.duration);
const runs = Number(values.runs);
const connections = Number(values.connections);
const subscribers = Number(values.subscribers);
const serverCpu = values['server-cpu']!;
const loadCpu = values['load-cpu']!;

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
for (const cmd of ['wrk', 'taskset']) {
  if (!which(cmd)) {
    console.error(`${cmd} is required (Debian: apt-get install ${cmd === 'wrk' ? 'wrk' : 'util-linux'})`);
    process.exit(2);
  }
}

const started = new Set<ChildProcess>();
function stopAll(): void {
  for (const child of started) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  started.clear();
}
process.once('SIGINT', () => {
  stopAll();
  process.exit(130);
});

interface Server {
  child: ChildProcess;
  port: number;
  pid: number;
}

/** Starts a server script pinned to the server core; resolves once it prints its port. */
function startServer(script: string): Promise<Server> {
  const child = spawn('taskset', ['-c', serverCpu, process.execPath, '--import', 'tsx', join(HERE, script)], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  return new Promise((resolvePort, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort({ child, port: Number(m[1]), pid: child.pid! });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d));
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}): ${out}`)));
  });
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise<void>((r) => server.child.once('exit', () => r()));
  try {
    process.kill(-server.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }, 3000);
  await exited;
  clearTimeout(timer);
  started.delete(server.child);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

function runPinned(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('taskset', ['-c', loadCpu, cmd, ...args], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone.
      }
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      started.delete(child);
      if (code === 0) resolveRun(out);
      else reject(new Error(`${cmd} exited ${code}: ${out}`));
    });
  });
}

interface WrkResult {
  rps: number;
  perCpuSecond: number;
  p50: string;
  p99: string;
  non2xx: number;
}

async function wrk(port: number, pid: number, seconds: number): Promise<WrkResult> {
  const url = `http://127.0.0.1:${port}/channels/bench/messages/temp`;
  const cpu0 = cpuSeconds(pid);
  const out = await runPinned(
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', join(HERE, 'post.lua'), url],
    (seconds + 30) * 1000,
  );
  const cpu = cpuSeconds(pid) - cpu0;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  return {
    rps,
    perCpuSecond: cpu > 0 ? total / cpu : Number.NaN,
    p50: /50%\s+(\S+)/.exec(out)?.[1] ?? '?',
    p99: /99%\s+(\S+)/.exec(out)?.[1] ?? '?',
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  };
}

async function httpRun(script: string): Promise<WrkResult> {
  const server = await startServer(script);
  try {
    // A short warm-up so both servers are measured with their code optimized.
    await wrk(server.port, server.pid, 1);
    return await wrk(server.port, server.pid, duration);
  } finally {
    await stopServer(server);
  }
}

interface FanoutResult {
  deliveriesPerSec: number;
  perCpuSecond: number;
  deliveries: number;
  published: number;
  droppedWs: number;
}

async function fanoutRun(): Promise<FanoutResult> {
  const server = await startServer('omap-server.ts');
  try {
    const cpu0 = cpuSeconds(server.pid);
    const out = await runPinned(
      process.execPath,
      [
        '--import',
        'tsx',
        join(HERE, 'fanout-client.ts'),
        String(server.port),
        String(subscribers),
        String(duration),
      ],
      (duration + 60) * 1000,
    );
    // Includes the client's connection set-up and warm-up second: an upper bound of the cost.
    const cpu = cpuSeconds(server.pid) - cpu0;
    const line = out.trim().split('\n').at(-1)!;
    const result = JSON.parse(line) as { deliveriesPerSec: number; deliveries: number; published: number };
    const stats = (await (await fetch(`http://127.0.0.1:${server.port}/bench/stats`)).json()) as {
      droppedWs: number;
    };
    return {
      ...result,
      perCpuSecond: cpu > 0 ? result.deliveries / cpu : Number.NaN,
      droppedWs: stats.droppedWs,
    };
  } finally {
    await stopServer(server);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const range = (xs: number[]): string => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;

try {
  const omap: WrkResult[] = [];
  const node: WrkResult[] = [];
  const fanout: FanoutResult[] = [];
  for (let i = 0; i < runs; i++) {
    omap.push(await httpRun('omap-server.ts'));
    node.push(await httpRun('node-http-server.ts'));
    fanout.push(await fanoutRun());
    const o = omap.at(-1)!;
    const n = node.at(-1)!;
    const f = fanout.at(-1)!;
    console.error(
      `run ${i + 1}/${runs}: omap ${fmt(o.rps)} req/s (p50 ${o.p50}), node:http ${fmt(n.rps)} req/s (p50 ${n.p50}), ` +
        `fan-out ${fmt(f.deliveriesPerSec)} deliveries/s`,
    );
  }
  const errors = [...omap, ...node].reduce((s, r) => s + r.non2xx, 0);
  const oRps = median(omap.map((r) => r.rps));
  const nRps = median(node.map((r) => r.rps));
  const oCpu = median(omap.map((r) => r.perCpuSecond));
  const nCpu = median(node.map((r) => r.perCpuSecond));
  console.log(`
HTTP front-end benchmark (${runs} runs, medians; server on core ${serverCpu}, load on core ${loadCpu}; Node ${process.versions.node})

| measure                                               | OMAP (uWS)            | node:http             | OMAP / node:http |
| ----------------------------------------------------- | --------------------- | --------------------- | ---------------- |
| HTTP publish req/s (wrk -t1 -c${connections} -d${duration}s, keep-alive)  | ${fmt(oRps)} (${range(omap.map((r) => r.rps))}) | ${fmt(nRps)} (${range(node.map((r) => r.rps))}) | ${(oRps / nRps).toFixed(2)}× |
| HTTP publish requests per server CPU-second           | ${fmt(oCpu)} | ${fmt(nCpu)} | ${(oCpu / nCpu).toFixed(2)}× |
| latency p50 / p99                                     | ${omap.map((r) => `${r.p50} / ${r.p99}`).join(', ')} | ${node.map((r) => `${r.p50} / ${r.p99}`).join(', ')} | |
| non-2xx answers                                       | ${omap.reduce((s, r) => s + r.non2xx, 0)} | ${node.reduce((s, r) => s + r.non2xx, 0)} | |
| WebSocket fan-out deliveries/s (${subscribers} subscribers, 64 B) | ${fmt(median(fanout.map((r) => r.deliveriesPerSec)))} (${range(fanout.map((r) => r.deliveriesPerSec))}) | – | |
| fan-out deliveries per server CPU-second (upper bound of cost) | ${fmt(median(fanout.map((r) => r.perCpuSecond)))} | – | |
| fan-out: messages published / dropped for slow sockets | ${fmt(median(fanout.map((r) => r.published)))} / ${fanout.reduce((s, r) => s + r.droppedWs, 0)} | | |
`);
  if (errors > 0) {
    console.error(`${errors} answers were not 2xx: the numbers above are not valid`);
    process.exitCode = 1;
  }
} finally {
  stopAll();
}
