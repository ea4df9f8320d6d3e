/**
 * Pairs throughput with the platform authorizer against an allow-all authorizer, in the same run:
 * N publisher/subscriber pairs, each pair on its own channel (publisher thing → channel ← subscriber
 * thing), QoS 0, 64-byte payloads, closed loop (at most WINDOW messages in flight per pair). The
 * broker runs in a child process; the raw-socket load generator runs here. Modes alternate over
 * ROUNDS so drift hits both alike. Reported: delivered messages/s and messages per broker
 * CPU-second (the fair measure when the generator is the bottleneck), and platform / allow-all.
 *
 *   node --import tsx bench/auth/pairs.bench.ts [pairs=50] [seconds=3] [rounds=3]
 *
 * Mode `platform-uncached-broker` turns the broker's own per-connection decision cache off, so every
 * publish goes through the platform authorizer's cache: its hot path in situ.
 */
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

interface Thing {
  id: string;
  secret: string;
  channelId: string;
}

const PAIRS = Number(process.argv[2] ?? 50);
const SECONDS = Number(process.argv[3] ?? 3);
const ROUNDS = Number(process.argv[4] ?? 3);
const WINDOW = 64;
const BATCH = 16;
const WARMUP_MS = 1000;
const MODES = ['allow-all', 'platform', 'platform-uncached-broker'] as const;
type Mode = (typeof MODES)[number];

// ---- MQTT 3.1.1 wire, just what the benchmark sends ----

function varInt(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varInt(body.length)]), body]);
}

function connectPacket(clientId: string, username: string, password: string): Buffer {
  const header = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 0])]);
  return packet(0x10, Buffer.concat([header, str(clientId), str(username), str(password)]));
}

function subscribePacket(filter: string): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(filter), Buffer.from([0])]));
}

function publishPacket(topic: string, payload: Buffer): Buffer {
  return packet(0x30, Buffer.concat([str(topic), payload]));
}

/** Counts PUBLISH frames in a byte stream and calls `onControl` for the others (CONNACK, SUBACK). */
class FrameCounter {
  publishes = 0;
  private skip = 0;
  private header: number[] = [];

  constructor(private readonly onControl: (type: number) => void) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const b = chunk[i++]!;
      this.header.push(b);
      if (this.header.length === 1 || b & 0x80) continue;
      let length = 0;
      for (let k = this.header.length - 1; k >= 1; k--) length = length * 128 + (this.header[k]! & 0x7f);
      const type = this.header[0]! >> 4;
      this.header = [];
      this.skip = length;
      if (type === 3) this.publishes++;
      else this.onControl(type);
    }
  }
}

function open(port: number, clientId: string, username: string, password: string, onPublishes: () => void) {
  return new Promise<{ socket: net.Socket; counter: FrameCounter; control: (type: number) => Promise<void> }>(
    (resolve, reject) => {
      const waiters: { type: number; resolve: () => void }[] = [];
      const counter = new FrameCounter((type) => {
        const i = waiters.findIndex((w) => w.type === type);
        if (i >= 0) waiters.splice(i, 1)[0]!.resolve();
      });
      const control = (type: number) => new Promise<void>((r) => waiters.push({ type, resolve: r }));
      const socket = net.connect({ port, host: '127.0.0.1' }, () => {
        socket.setNoDelay(true);
        const connack = control(2);
        socket.write(connectPacket(clientId, username, password));
        connack.then(() => resolve({ socket, counter, control }), reject);
      });
      socket.on('data', (d) => {
        const before = counter.publishes;
        counter.push(d);
        if (counter.publishes !== before) onPublishes();
      });
      socket.on('error', reject);
    },
  );
}

interface Result {
  mode: Mode;
  delivered: number;
  seconds: number;
  brokerCpuMs: number;
}

async function runMode(mode: Mode): Promise<Result> {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('./pairs-broker.ts', import.meta.url)),
    [mode, String(PAIRS)],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const next = (cmd: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (m.cmd === cmd) {
          child.off('message', on);
          resolve(m);
        }
      };
      child.on('message', on);
    });
  const ready = (await next('ready')) as { port: number; things: Thing[] };
  const sockets: net.Socket[] = [];
  const payload = Buffer.alloc(64, 7);
  let measuring = false;
  let delivered = 0;
  const pairs = await Promise.all(
    Array.from({ length: PAIRS }, async (_, k) => {
      const pub = ready.things[2 * k]!;
      const sub = ready.things[2 * k + 1]!;
      const state = { sent: 0, received: 0, pump: () => {} };
      const subscriber = await open(ready.port, `sub-${k}`, sub.id, sub.secret, () => {
        const n = subscriber.counter.publishes - state.received;
        state.received = subscriber.counter.publishes;
        if (measuring) delivered += n;
        state.pump();
      });
      const suback = subscriber.control(9);
      subscriber.socket.write(subscribePacket(`channels/${sub.channelId}/messages/#`));
      await suback;
      const publisher = await open(ready.port, `pub-${k}`, pub.id, pub.secret, () => {});
      const frame = publishPacket(`channels/${pub.channelId}/messages/data`, payload);
      const batch = Buffer.concat(Array.from({ length: BATCH }, () => frame));
      let running = true;
      state.pump = () => {
        while (running && state.sent - state.received <= WINDOW - BATCH) {
          publisher.socket.write(batch);
          state.sent += BATCH;
        }
      };
      sockets.push(subscriber.socket, publisher.socket);
      return { state, stop: () => (running = false) };
    }),
  );
  for (const p of pairs) p.state.pump();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  child.send({ cmd: 'start' });
  await next('started');
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  child.send({ cmd: 'stop' });
  const stopped = (await next('stopped')) as { cpuMs: number };
  for (const p of pairs) p.stop();
  for (const s of sockets) s.destroy();
  child.send({ cmd: 'exit' });
  await new Promise((r) => child.once('exit', r));
  return { mode, delivered, seconds, brokerCpuMs: stopped.cpuMs };
}

const results: Result[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of MODES) {
    const r = await runMode(mode);
    results.push(r);
    console.log(
      `round ${round + 1} ${mode.padEnd(26)} ${(r.delivered / r.seconds).toFixed(0).padStart(8)} msg/s  broker CPU ${(r.brokerCpuMs / 10 / r.seconds).toFixed(0)} %  ${((r.delivered / r.brokerCpuMs) * 1000).toFixed(0)} msg/CPU-s`,
    );
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = MODES.map((mode) => {
  const rs = results.filter((r) => r.mode === mode);
  return {
    mode,
    rate: median(rs.map((r) => r.delivered / r.seconds)),
    perCpu: median(rs.map((r) => (r.delivered / r.brokerCpuMs) * 1000)),
  };
});
const base = summary[0]!;
console.log(
  `\nnode ${process.version}, ${PAIRS} pairs, ${SECONDS} s x ${ROUNDS} rounds, QoS 0, 64 B, window ${WINDOW}/pair (medians)`,
);
console.table(
  summary.map((s) => ({
    mode: s.mode,
    'msg/s': Math.round(s.rate),
    'vs allow-all': `${((s.rate / base.rate) * 100).toFixed(1)} %`,
    'msg per broker CPU-s': Math.round(s.perCpu),
    'vs allow-all (CPU)': `${((s.perCpu / base.perCpu) * 100).toFixed(1)} %`,
  })),
);
