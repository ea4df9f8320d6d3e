// Starts and stops the brokers under comparison (OMAP, Mosquitto, Aedes) on free loopback ports,
// optionally pinned to one core with taskset. Each broker runs in its own process group
// (detached) and is stopped by that group only: SIGTERM, then SIGKILL after a timeout. Every
// started broker is tracked so `stopAllBrokers` can clean up on SIGINT or an exception.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeConnect, FrameSplitter, PacketType } from '../load/wire.js';

export type BrokerName = 'omap' | 'mosquitto' | 'aedes';
export const BROKERS: readonly BrokerName[] = ['omap', 'mosquitto', 'aedes'];

export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The broker cannot be started here (not built, not installed): skip it, with this reason. */
export class BrokerUnavailable extends Error {}

export interface LaunchOptions {
  /** Core to pin the broker to with taskset; null = unpinned. */
  cpu: number | null;
  /** Disable Nagle on the broker's client sockets (Mosquitto set_tcp_nodelay, Node noDelay). */
  nodelay: boolean;
  /** Startup timeout, ms. */
  startTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface RunningBroker {
  name: BrokerName;
  pid: number;
  port: number;
  /** Human-readable version, when known. */
  version: string;
  /** Last lines of the broker's stdout/stderr (diagnostics). */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

function which(cmd: string): string | null {
  try {
    const out = execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
    return out || null;
  } catch {
    return null;
  }
}

export function tasksetPath(): string | null {
  return which('taskset');
}

export function mosquittoPath(): string | null {
  for (const p of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto']) if (existsSync(p)) return p;
  return which('mosquitto');
}

const versions = new Map<string, string>();

export function mosquittoVersion(bin: string): string {
  const cached = versions.get(bin);
  if (cached !== undefined) return cached;
  const v = readMosquittoVersion(bin);
  versions.set(bin, v);
  return v;
}

function readMosquittoVersion(bin: string): string {
  try {
    // `mosquitto -h` prints "mosquitto version 2.0.11" and exits with status 3.
    execFileSync(bin, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const out = String((e as { stdout?: unknown }).stdout ?? '');
    const m = /version\s+(\S+)/.exec(out);
    if (m) return m[1]!;
  }
  return 'unknown';
}

/** A currently free TCP port on 127.0.0.1 (the usual small race applies). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** One MQTT CONNECT/CONNACK round trip; true when the broker accepted it. */
export function probeMqtt(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const sock = net.connect({ host, port });
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolveProbe(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const splitter = new FrameSplitter({
      onFrame(buf, header, start) {
        if (header >> 4 === PacketType.CONNACK) finish(buf[start + 1] === 0);
      },
    });
    sock.on('connect', () => sock.write(encodeConnect(`probe${process.pid}${Date.now() % 100_000}`, 10)));
    sock.on('data', (d: Buffer) => {
      try {
        splitter.push(d);
      } catch {
        finish(false);
      }
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the whole group we created (detached: pgid = pid)
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stopChild(child: ChildProcess, timeoutMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, 'SIGKILL'); // leftovers of the group, if any
    running.delete(child);
    return;
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child, 'SIGTERM');
  const t = await Promise.race([
    exited.then(() => 'exited' as const),
    sleep(timeoutMs).then(() => 'timeout' as const),
  ]);
  if (t === 'timeout') {
    killGroup(child, 'SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  } else {
    killGroup(child, 'SIGKILL'); // any grandchild still in the group
  }
  running.delete(child);
}

/** Synchronous best effort for process 'exit' handlers: SIGKILL every group we started. */
export function killAllBrokersSync(): void {
  for (const c of running) killGroup(c, 'SIGKILL');
  running.clear();
}

export async function stopAllBrokers(): Promise<void> {
  await Promise.all([...running].map((c) => stopChild(c)));
}

/** Spawns `cmd args` pinned with taskset (when available) in a new process group. */
export function spawnPinned(
  cmd: string,
  args: string[],
  cpu: number | null,
  opts: { cwd?: string; stdin?: 'pipe' | 'ignore' } = {},
): ChildProcess {
  const taskset = cpu !== null ? tasksetPath() : null;
  const [file, argv] = taskset !== null ? [taskset, ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, {
    cwd: opts.cwd ?? REPO_ROOT,
    detached: true,
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Tracks a child process spawned by the caller so that stopAllBrokers() also stops it. */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

export { stopChild };

interface Plan {
  cmd: string;
  args: string[];
  version: string;
  stdin: 'pipe' | 'ignore';
  cleanup?: () => void;
}

/** `omap serve` on loopback: MQTT on `port`, HTTP and CoAP on free ports, no authentication; then `extra`. */
export function omapServeArgs(port: number, extra: readonly string[] = []): string[] {
  return [
    join(REPO_ROOT, 'dist/bin/omap.js'),
    'serve',
    '--host',
    '127.0.0.1',
    '--mqtt-port',
    String(port),
    '--http-port',
    '0',
    '--coap-port',
    '0',
    '--auth',
    'none',
    ...extra,
  ];
}

function plan(name: BrokerName, port: number, o: LaunchOptions): Plan {
  const node = process.execPath;
  switch (name) {
    case 'omap': {
      const entry = join(REPO_ROOT, 'dist/bin/omap.js');
      if (!existsSync(entry)) {
        throw new BrokerUnavailable(
          'OMAP: dist/bin/omap.js not found (run `npm run build` once the CLI exists)',
        );
      }
      return {
        cmd: node,
        args: omapServeArgs(port),
        version: 'dist/bin/omap.js',
        stdin: 'ignore',
      };
    }
    case 'mosquitto': {
      const bin = mosquittoPath();
      if (bin === null) {
        throw new BrokerUnavailable(
          'Mosquitto: not installed. On Debian/Ubuntu: `apt-get install mosquitto` (skipping it; nothing was installed)',
        );
      }
      const dir = mkdtempSync(join(tmpdir(), 'omap-bench-mosq-'));
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          '# generated by bench/brokers/launch.ts: minimal, no persistence',
          `listener ${port} 127.0.0.1`,
          'allow_anonymous true',
          'persistence false',
          'log_dest stderr',
          'log_type error',
          'log_type warning',
          ...(o.nodelay ? ['set_tcp_nodelay true'] : []),
          '',
        ].join('\n'),
      );
      return {
        cmd: bin,
        args: ['-c', conf],
        version: `mosquitto ${mosquittoVersion(bin)}`,
        stdin: 'ignore',
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    }
    case 'aedes': {
      const script = join(REPO_ROOT, 'bench/brokers/aedes-server.mjs');
      if (!existsSync(join(REPO_ROOT, 'node_modules/aedes/package.json'))) {
        throw new BrokerUnavailable('Aedes: node_modules/aedes missing (it is a devDependency: npm install)');
      }
      return {
        cmd: node,
        args: [
          script,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--exit-on-stdin-close',
          ...(o.nodelay ? ['--nodelay'] : []),
        ],
        version: 'aedes 1.2.0',
        stdin: 'pipe',
      };
    }
  }
}

/** Checks that a broker could be started, without starting it: null when fine, else the reason. */
export function unavailableReason(name: BrokerName): string | null {
  try {
    const p = plan(name, 1, { cpu: null, nodelay: false });
    p.cleanup?.();
    return null;
  } catch (e) {
    if (e instanceof BrokerUnavailable) return e.message;
    throw e;
  }
}

export async function startBroker(name: BrokerName, o: LaunchOptions): Promise<RunningBroker> {
  const port = await freePort();
  const p = plan(name, port, o);
  const child = spawnPinned(p.cmd, p.args, o.cpu, { stdin: p.stdin });
  let tail = '';
  let listeningSeen = false;
  const onData = (d: Buffer): void => {
    const s = d.toString('utf8');
    if (!listeningSeen && s.includes('"msg":"listening"') && s.includes('mqtt')) listeningSeen = true;
    tail = (tail + s).slice(-4000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const spawnError = new Promise<Error>((r) => child.once('error', r));
  let failure: Error | null = null;
  void spawnError.then((e) => {
    failure = e;
  });

  const deadline = Date.now() + (o.startTimeoutMs ?? 15_000);
  let ready = false;
  while (Date.now() < deadline) {
    if (failure !== null || child.exitCode !== null || child.signalCode !== null) break;
    if (await probeMqtt('127.0.0.1', port, 500)) {
      ready = true;
      break;
    }
    await sleep(listeningSeen ? 20 : 100);
  }
  const stop = async (): Promise<void> => {
    await stopChild(child);
    p.cleanup?.();
  };
  if (!ready || child.pid === undefined) {
    await stop();
    const why =
      failure !== null
        ? (failure as Error).message
        : child.exitCode !== null
          ? `exited with code ${child.exitCode}`
          : 'no CONNACK before the startup timeout';
    throw new Error(`${name} did not start on port ${port}: ${why}\n${tail.trim()}`);
  }
  const pid = child.pid;
  o.log?.(`${name} pid ${pid} on 127.0.0.1:${port}${o.cpu !== null ? ` (cpu ${o.cpu})` : ''}`);
  return {
    name,
    pid,
    port,
    version: p.version,
    output: () => tail,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop,
  };
}
