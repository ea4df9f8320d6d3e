/**
 * The load side of the WebSocket fan-out benchmark (run pinned to its own core): N raw WebSocket
 * subscribers and one raw publisher on /channels/bench/messages. The publisher sends 64-byte
 * binary frames in a closed loop (at most `window` messages ahead of the slowest subscriber), so
 * the server is measured at the rate it sustains without dropping. Frames are counted by walking
 * their headers, cheaply enough that the clients are not the bottleneck.
 *
 *   node --import tsx bench/http/fanout-client.ts <port> [subscribers=50] [seconds=5] [window=2000]
 *
 * Prints one JSON line: {"subscribers","seconds","published","deliveries","deliveriesPerSec"}.
 */
import { connect, type Socket } from 'node:net';
import { BENCH_SECRET } from './bench-auth.js';

const port = Number(process.argv[2]);
const subscribers = Number(process.argv[3] ?? 50);
const seconds = Number(process.argv[4] ?? 5);
const window = Number(process.argv[5] ?? 2000);
const PAYLOAD = 64;
const BATCH = 50;

function handshake(path: string): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.setNoDelay(true);
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          `Authorization: Thing ${BENCH_SECRET}\r\n\r\n`,
      );
    });
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      if (!head.subarray(0, 12).toString().includes('101')) {
        reject(new Error(`upgrade refused: ${head.toString().split('\r\n')[0]}`));
        return;
      }
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Counts server-to-client frames (unmasked) across chunk boundaries. */
class FrameCounter {
  frames = 0;
  private skip = 0; // payload bytes of the current frame still to come
  private header: number[] = [];

  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        continue;
      }
      this.header.push(chunk[i++]!);
      const h = this.header;
      if (h.length < 2) continue;
      const len7 = h[1]! & 0x7f;
      const need = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (h.length < need) continue;
      let len = len7;
      if (len7 === 126) len = (h[2]! << 8) | h[3]!;
      else if (len7 === 127) len = Number(Buffer.from(h.slice(2, 10)).readBigUInt64BE());
      if ((h[0]! & 0x0f) === 0x2) this.frames++;
      this.header = [];
      this.skip = len;
    }
  }
}

const counters: FrameCounter[] = [];
const sockets: Socket[] = [];
for (let i = 0; i < subscribers; i++) {
  const { socket, rest } = await handshake('/channels/bench/messages');
  const counter = new FrameCounter();
  counter.push(rest);
  socket.on('data', (d: Buffer) => {
    counter.push(d);
    pump();
  });
  counters.push(counter);
  sockets.push(socket);
}
const { socket: publisher } = await handshake('/channels/bench/messages');
sockets.push(publisher);
publisher.on('data', () => {});

// A batch of masked binary frames (mask key 0: XOR is a no-op, as the RFC permits the value).
const frame = Buffer.alloc(2 + 4 + PAYLOAD);
frame[0] = 0x82;
frame[1] = 0x80 | PAYLOAD;
for (let i = 0; i < PAYLOAD; i++) frame[6 + i] = i;
const batch = Buffer.concat(Array.from({ length: BATCH }, () => frame));

let published = 0;
let running = true;
let pumping = false;
function slowest(): number {
  let min = Number.POSITIVE_INFINITY;
  for (const c of counters) if (c.frames < min) min = c.frames;
  return min;
}
function pump(): void {
  if (!running || pumping) return;
  pumping = true;
  while (published - slowest() < window) {
    publisher.write(batch);
    published += BATCH;
  }
  pumping = false;
}

const total = (): number => counters.reduce((s, c) => s + c.frames, 0);
pump();
await new Promise((r) => setTimeout(r, 1000)); // warm-up
const startDeliveries = total();
const startPublished = published;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const elapsed = (performance.now() - t0) / 1000;
const deliveries = total() - startDeliveries;
running = false;
console.log(
  JSON.stringify({
    subscribers,
    seconds: Number(elapsed.toFixed(2)),
    published: published - startPublished,
    deliveries,
    deliveriesPerSec: Math.round(deliveries / elapsed),
  }),
);
for (const s of sockets) s.destroy();
