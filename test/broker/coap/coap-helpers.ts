/**
 * CoAP test helpers: a broker with CoAP and MQTT on free loopback ports, a raw UDP CoAP client built on
 * coap-packet (exact datagrams in, every datagram out), and Debian's coap-client-notls as a child
 * process whose output can be awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { generate, type Packet, type ParsedPacket, parse } from 'coap-packet';
import type { CoapOptions } from '../../../broker/coap/settings.js';
import { type Broker, type BrokerOptions, createBroker } from '../../../broker/index.js';
import { type ProcessResult, run } from '../../helpers.js';

export interface CoapTestBroker {
  broker: Broker;
  coapPort: number;
  mqttUrl: string;
  /** `coap://127.0.0.1:<port>` */
  coapUrl: string;
  close(): Promise<void>;
}

export async function startCoapBroker(
  options: Omit<BrokerOptions, 'coap'> & { coap?: CoapOptions } = {},
): Promise<CoapTestBroker> {
  const broker = createBroker({
    ...options,
    host: '127.0.0.1',
    mqtt: { port: 0 },
    coap: { port: 0, ...options.coap },
  });
  const addresses = await broker.listen();
  const coapPort = addresses.coap!.port;
  return {
    broker,
    coapPort,
    mqttUrl: `mqtt://127.0.0.1:${addresses.mqtt!.port}`,
    coapUrl: `coap://127.0.0.1:${coapPort}`,
    close: () => broker.close(),
  };
}

/** Uri-Path and Uri-Query options for coap-packet from `/a/b?x=1&y=2`. */
export function uriOptions(target: string): { name: string; value: Buffer }[] {
  const [path = '', query] = target.split('?');
  const options = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => ({ name: 'Uri-Path', value: Buffer.from(s) }));
  for (const q of query?.split('&') ?? []) options.push({ name: 'Uri-Query', value: Buffer.from(q) });
  return options;
}

export function uint(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}

export function option(packet: ParsedPacket, name: string): Buffer | undefined {
  return packet.options.find((o) => o.name === name)?.value;
}

export function uintOption(packet: ParsedPacket, name: string): number | undefined {
  const v = option(packet, name);
  return v === undefined ? undefined : v.length === 0 ? 0 : v.readUIntBE(0, v.length);
}

export function blockOption(packet: ParsedPacket, name: 'Block1' | 'Block2') {
  const n = uintOption(packet, name);
  if (n === undefined) return undefined;
  return { num: n >> 4, more: (n & 8) !== 0, size: 1 << ((n & 7) + 4) };
}

/**
 * A CoAP endpoint on its own UDP socket: sends exactly what a test gives it and keeps every datagram
 * it receives, so the broker's answers can be checked field by field.
 */
export class RawCoapClient {
  /** Received and not yet taken by `next`. */
  readonly inbox: ParsedPacket[] = [];
  /** Every datagram received, in order (including those taken). */
  readonly all: ParsedPacket[] = [];
  private readonly arrivals = new WeakMap<ParsedPacket, number>();
  private waiters: { match: (p: ParsedPacket) => boolean; resolve: (p: ParsedPacket) => void }[] = [];
  private messageId = Math.floor(Math.random() * 0xffff);

  private constructor(
    readonly socket: Socket,
    readonly port: number,
    readonly host: string,
  ) {
    socket.on('message', (datagram) => {
      let packet: ParsedPacket;
      try {
        packet = parse(datagram);
      } catch {
        return;
      }
      this.all.push(packet);
      this.arrivals.set(packet, performance.now());
      const i = this.waiters.findIndex((w) => w.match(packet));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(packet);
      else this.inbox.push(packet);
    });
  }

  static open(port: number, host = '127.0.0.1', type: 'udp4' | 'udp6' = 'udp4'): Promise<RawCoapClient> {
    const socket = createSocket(type);
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => {
        socket.off('error', reject);
        resolve(new RawCoapClient(socket, port, host));
      });
    });
  }

  /** When a packet arrived (performance.now()). */
  arrivedAt(packet: ParsedPacket): number {
    return this.arrivals.get(packet) ?? Number.NaN;
  }

  nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }

  /** Sends a packet (message id and a random 4-byte token filled in unless given); returns what was sent. */
  send(packet: Packet): Required<Pick<Packet, 'messageId' | 'token'>> & Packet {
    const full = { token: randomBytes(4), ...packet, messageId: packet.messageId ?? this.nextMessageId() };
    this.sendBytes(generate({ ...full, options: [...(full.options ?? [])] }, 65_000));
    return full;
  }

  sendBytes(bytes: Buffer): void {
    this.socket.send(bytes, this.port, this.host);
  }

  /** A CON (or NON) request to `target` (path and query). */
  request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    target: string,
    extra: Packet & { extraOptions?: { name: string; value: Buffer }[] } = {},
  ) {
    const { extraOptions = [], ...rest } = extra;
    return this.send({
      code: method,
      confirmable: extra.confirmable ?? true,
      ...rest,
      options: [...uriOptions(target), ...extraOptions],
    });
  }

  /** The next received packet that matches (already received or still to come), or rejects after `ms`. */
  next(match: (p: ParsedPacket) => boolean = () => true, ms = 5000): Promise<ParsedPacket> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (p: ParsedPacket) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error('timed out waiting for a CoAP datagram'));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** The response to a request (same token, or an ACK with the same message id). */
  response(sent: { messageId: number; token: Buffer }, ms = 5000): Promise<ParsedPacket> {
    return this.next((p) => p.code !== '0.00' && p.token.equals(sent.token), ms);
  }

  ack(packet: ParsedPacket): void {
    this.sendBytes(generate({ ack: true, code: '0.00', messageId: packet.messageId }));
  }

  reset(packet: ParsedPacket): void {
    this.sendBytes(generate({ reset: true, code: '0.00', messageId: packet.messageId }));
  }

  private closed: Promise<void> | null = null;

  close(): Promise<void> {
    this.closed ??= new Promise((resolve) => this.socket.close(() => resolve()));
    return this.closed;
  }
}

/** Runs coap-client-notls to completion (`-B` bounds its own wait; `ms` kills it as a last resort). */
export function coapClient(args: string[], ms = 15_000): Promise<ProcessResult> {
  return run('coap-client-notls', args, ms);
}

/** coap-client-notls running in the background (an observer): await its output or its exit. */
export class CoapClientProcess {
  private out = '';
  private readonly child: ChildProcess;
  private readonly listeners = new Set<() => void>();
  readonly done: Promise<ProcessResult>;

  constructor(args: string[], ms = 15_000) {
    const child = spawn('coap-client-notls', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString('latin1');
      for (const l of this.listeners) l();
    });
    child.stderr!.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    this.done = new Promise((resolve) => {
      child.on('close', (code) => {
        clearTimeout(timer);
        for (const l of this.listeners) l();
        resolve({ code, stdout: this.out, stderr: err });
      });
    });
  }

  get output(): string {
    return this.out;
  }

  /** Resolves once the output satisfies `check`; rejects after `ms` or if the process ends first. */
  waitForOutput(check: (output: string) => boolean, ms = 8000): Promise<string> {
    if (check(this.out)) return Promise.resolve(this.out);
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (check(this.out)) {
          finish();
          resolve(this.out);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish();
          reject(new Error(`coap-client-notls ended; output: ${JSON.stringify(this.out)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out; coap-client-notls output so far: ${JSON.stringify(this.out)}`));
      }, ms);
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }

  kill(): Promise<ProcessResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.done;
  }
}
