/**
 * CoAP load generator (one process; run.ts pins it to its own core). Sends the fixture publish from
 * several UDP sockets, each a distinct peer:
 * - `non`: open loop, NON requests as fast as the generator can send them (batches per event-loop
 *   turn); the server's deliveries tell how many it handled;
 * - `con`: closed loop, `window` CON requests in flight per socket, a new one for each response; a
 *   socket that hears nothing for 300 ms starts its window again (counted as a stall).
 * Tells its parent over IPC when the measurement window starts and ends, with the client-side counts.
 *
 *   tsx bench/coap/load.ts --port <n> --mode non|con [--seconds 5] [--warmup 1] [--sockets 16] [--window 4]
 */
import { createSocket, type Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { publishDatagram } from './fixtures.js';

export interface LoadReport {
  type: 'window-end';
  mode: 'non' | 'con';
  seconds: number;
  sent: number;
  responses: number;
  stalls: number;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    mode: { type: 'string', default: 'non' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    sockets: { type: 'string', default: '16' },
    window: { type: 'string', default: '4' },
    batch: { type: 'string', default: '8' },
  },
});
const port = Number(values.port);
const mode = values.mode === 'con' ? 'con' : 'non';
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const socketCount = Number(values.sockets);
const window = Number(values.window);
const batch = Number(values.batch);

const template = publishDatagram(mode === 'con');
let counting = false;
let sent = 0;
let responses = 0;
let stalls = 0;
let running = true;

interface Peer {
  socket: Socket;
  messageId: number;
  inFlight: number;
  lastResponse: number;
}

function datagram(peer: Peer): Buffer {
  const d = Buffer.from(template);
  peer.messageId = (peer.messageId + 1) & 0xffff;
  d.writeUInt16BE(peer.messageId, 2);
  d.writeUInt16BE(peer.messageId, 6); // the 4-byte token: unique per request, enough for the ACK check
  return d;
}

function send(peer: Peer): void {
  peer.socket.send(datagram(peer));
  if (counting) sent++;
}

async function openPeer(): Promise<Peer> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', () => resolve()));
  const peer: Peer = { socket, messageId: Math.floor(Math.random() * 0xffff), inFlight: 0, lastResponse: 0 };
  socket.on('message', (reply) => {
    if (counting) responses++;
    if (mode !== 'con' || !running) return;
    // Any reply (2.04 ACK) frees one slot of this peer's window.
    if ((reply[0]! & 0x30) !== 0x20) return;
    peer.lastResponse = performance.now();
    peer.inFlight--;
    while (peer.inFlight < window) {
      peer.inFlight++;
      send(peer);
    }
  });
  socket.on('error', () => {});
  return peer;
}

const peers = await Promise.all(Array.from({ length: socketCount }, openPeer));
const start = performance.now();
const windowStart = start + warmup * 1000;
const windowEnd = windowStart + seconds * 1000;
let windowStarted = 0;

if (mode === 'con') {
  for (const peer of peers) {
    peer.lastResponse = performance.now();
    for (; peer.inFlight < window; peer.inFlight++) send(peer);
  }
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const peer of peers) {
      if (now - peer.lastResponse < 300) continue;
      stalls++;
      peer.lastResponse = now;
      peer.inFlight = window;
      for (let i = 0; i < window; i++) send(peer);
    }
  }, 100);
  await phases();
  clearInterval(watchdog);
} else {
  const blast = async (): Promise<void> => {
    while (running) {
      for (const peer of peers) for (let i = 0; i < batch; i++) send(peer);
      await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all([blast(), phases()]);
}

async function phases(): Promise<void> {
  await sleepUntil(windowStart);
  counting = true;
  windowStarted = performance.now();
  process.send?.({ type: 'window-start' });
  await sleepUntil(windowEnd);
  counting = false;
  const report: LoadReport = {
    type: 'window-end',
    mode,
    seconds: (performance.now() - windowStarted) / 1000,
    sent,
    responses,
    stalls,
  };
  running = false;
  process.send?.(report);
}

function sleepUntil(t: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));
}

for (const peer of peers) peer.socket.close();
process.disconnect?.();
