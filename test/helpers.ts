/** Shared test helpers: a broker on an ephemeral loopback port, MQTT clients, raw sockets, bounded waits. */
import { spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { type Broker, type BrokerOptions, createBroker, type ListeningAddresses } from '../broker/index.js';

export interface TestBroker {
  broker: Broker;
  /** Every address bound (mqtt always; http and coap when configured). */
  addresses: ListeningAddresses;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const broker = createBroker({ ...options, mqtt: { port: 0 }, host: '127.0.0.1' });
  const addresses = await broker.listen();
  const port = addresses.mqtt!.port;
  return { broker, port, url: `mqtt://127.0.0.1:${port}`, addresses, close: () => broker.close() };
}

/** Resolves with the next emission of `event`, or rejects after `ms`. */
export function waitFor<T = unknown>(
  emitter: { once: (...args: never[]) => unknown },
  event: string,
  ms = 5000,
): Promise<T> {
  const once = emitter.once as unknown as (event: string, cb: (...args: unknown[]) => void) => unknown;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    once.call(emitter, event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args[0] as T);
    });
  });
}

/** Polls `check` until it returns true (for state that has no event), bounded by `ms`. */
export async function until(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Received = { topic: string; payload: Buffer; packet: mqttPacket.IPublishPacket }[];
const receivedBy = new WeakMap<MqttClient, Received>();

/**
 * Connects an mqtt.js client and resolves on CONNACK. Messages are collected from the very start
 * (a resumed session's messages may arrive in the same read as the CONNACK): see `collect`.
 */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const received: Received = [];
  receivedBy.set(client, received);
  client.on('message', (topic, payload, packet) => received.push({ topic, payload, packet }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

export function closeClient(client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => client.end(force, {}, () => resolve()));
}

/** The messages an mqtt.js client from `connectClient` has received so far (a live array). */
export function collect(client: MqttClient): Received {
  const received = receivedBy.get(client);
  if (!received) throw new Error('collect() needs a client made by connectClient()');
  return received;
}

/**
 * A raw MQTT client over a plain socket: sends exactly the packets (or bytes) a test gives it and
 * exposes every packet the broker sends back, so the protocol can be checked byte for byte.
 */
export class RawClient {
  readonly packets: Packet[] = [];
  closed = false;
  private waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  private closeWaiters: (() => void)[] = [];
  private readonly parser: mqttPacket.Parser;

  private constructor(
    readonly socket: Socket,
    readonly version: 3 | 4 | 5,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p: Packet) => {
      const i = this.waiters.findIndex((w) => w.match(p));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(p);
      else this.packets.push(p);
    });
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters) w();
    });
  }

  static open(port: number, version: 3 | 4 | 5 = 4): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(socket, version)));
      socket.once('error', reject);
    });
  }

  static async connected(
    port: number,
    connect: Partial<mqttPacket.IConnectPacket> = {},
    version: 3 | 4 | 5 = 4,
  ): Promise<RawClient> {
    const c = await RawClient.open(port, version);
    c.send({ cmd: 'connect', protocolVersion: version, clientId: '', clean: true, keepalive: 0, ...connect });
    const connack = (await c.next('connack')) as mqttPacket.IConnackPacket;
    const code = connack.returnCode ?? connack.reasonCode ?? 0;
    if (code !== 0) throw new Error(`CONNACK ${code}`);
    return c;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** Sends SUBSCRIBE (with MQTT 5 properties if given) and resolves with the SUBACK. */
  async subscribe(
    subscriptions: mqttPacket.ISubscription[],
    messageId = 1,
    properties?: mqttPacket.ISubscribePacket['properties'],
  ): Promise<mqttPacket.ISubackPacket> {
    this.send({
      cmd: 'subscribe',
      messageId,
      subscriptions,
      ...(properties !== undefined && { properties }),
    });
    return (await this.next('suback')) as mqttPacket.ISubackPacket;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next packet of `cmd` (already received or still to come), or rejects after `ms`. */
  next(cmd: Packet['cmd'], ms = 5000): Promise<Packet> {
    const i = this.packets.findIndex((p) => p.cmd === cmd);
    if (i >= 0) return Promise.resolve(this.packets.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match: (p: Packet) => p.cmd === cmd,
        resolve: (p: Packet) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for ${cmd}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** Resolves when the broker closes the connection, or rejects after `ms`. */
  whenClosed(ms = 5000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection was not closed')), ms);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `ms`, then killed). */
export function run(cmd: string, args: string[], ms = 10_000): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
