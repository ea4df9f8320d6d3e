/**
 * `createBroker(options)`: the library entry. Wires the protocol front-ends to one broker core.
 */
import type { TlsOptions } from 'node:tls';
import type { CoapOptions } from './coap/settings.js';
import { CoapUdpListener } from './coap/udp-listener.js';
import type { Authorizer, ClientInfo } from './core/authorizer.js';
import { BrokerCore, type BrokerEvents, type CoreLimits, DEFAULT_CORE_LIMITS } from './core/broker-core.js';
import type { Logger } from './core/logger.js';
import { Message, type MessageProperties, type QoS } from './core/message.js';
import type { MessageTap } from './core/message-taps.js';
import type { PayloadValidator } from './core/payload-validator.js';
import { validateTopicName } from './core/topic.js';
import { HttpFrontEnd } from './http/http-front-end.js';
import type { HttpOptions } from './http/options.js';
import { MqttFrontEnd } from './mqtt/mqtt-front-end.js';
import { DEFAULT_MQTT_LIMITS, type MqttLimits } from './mqtt/options.js';
import { type ListenAddress, TcpListener } from './mqtt/tcp-listener.js';

export type BrokerLimits = CoreLimits & MqttLimits;

/** Every limit with its default value. */
export const DEFAULT_LIMITS: BrokerLimits = { ...DEFAULT_CORE_LIMITS, ...DEFAULT_MQTT_LIMITS };

export interface BrokerOptions {
  /** Address every listener binds to unless it names its own. Default 127.0.0.1. */
  host?: string;
  /** MQTT over TCP; `false` disables it. Port 1883 by default, 0 picks a free port. */
  mqtt?: { port?: number; host?: string } | false;
  /**
   * MQTT over TLS (off unless given): `key`/`cert` (PEM), optional `ca`; `requestCert: true` asks
   * clients for a certificate (mTLS), which the Authorizer receives as `ConnectRequest.certificate`.
   * Port 8883 by default.
   */
  mqtts?: ({ port?: number; host?: string } & TlsOptions) | false;
  /**
   * CoAP over UDP (off unless given): port 5683 by default, `host` '::' for IPv4 and IPv6; every
   * other field is a CoAP setting (see broker/coap/README.md).
   */
  coap?: CoapOptions | false;
  /**
   * HTTP publish, SSE, plain WebSocket and MQTT over WebSocket on one uWebSockets.js listener (off
   * unless given): port 8080 by default; the other fields are described in broker/http/README.md.
   */
  http?: HttpOptions | false;
  /** Decides connect/publish/subscribe. Default: allow everything. */
  authorizer?: Authorizer;
  /** Checks payloads before fan-out on every protocol (e.g. strict SenML channels). Default: none. */
  payloadValidator?: PayloadValidator;
  /** A pino-compatible logger. Default: silent. */
  logger?: Logger;
  limits?: Partial<BrokerLimits>;
}

export interface ListeningAddresses {
  mqtt?: ListenAddress;
  mqtts?: ListenAddress;
  http?: ListenAddress;
  coap?: ListenAddress;
}

/** A network listener of some front-end: started by `Broker.listen`, stopped first by `Broker.close`. */
export interface BrokerListener {
  readonly name: keyof ListeningAddresses;
  listen(): Promise<ListenAddress>;
  /** Stops accepting and resolves once its connections are gone. */
  close(): Promise<void>;
}

export interface PublishInput {
  topic: string;
  payload: Buffer | Uint8Array | string;
  qos?: QoS;
  retain?: boolean;
  properties?: MessageProperties;
}

export class Broker {
  readonly core: BrokerCore;
  readonly mqtt: MqttFrontEnd;
  readonly limits: BrokerLimits;
  /** The CoAP listener, when `coap` was given. */
  readonly coap: CoapUdpListener | null = null;
  /** The HTTP / WebSocket front-end, when `http` was given (e.g. to add routes with `http.route`). */
  readonly http: HttpFrontEnd | null = null;
  private readonly listeners: BrokerListener[] = [];
  private closing: Promise<void> | null = null;

  constructor(options: BrokerOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    const coreOptions: ConstructorParameters<typeof BrokerCore>[0] = { limits: this.limits };
    if (options.authorizer) coreOptions.authorizer = options.authorizer;
    if (options.logger) coreOptions.logger = options.logger;
    if (options.payloadValidator) coreOptions.payloadValidator = options.payloadValidator;
    this.core = new BrokerCore(coreOptions);
    this.mqtt = new MqttFrontEnd(this.core, this.limits);
    const host = options.host ?? '127.0.0.1';
    if (options.mqtt !== false) {
      const tcp = new TcpListener(this.mqtt, options.mqtt?.host ?? host, options.mqtt?.port ?? 1883);
      this.listeners.push({ name: 'mqtt', listen: () => tcp.listen(), close: () => tcp.close() });
    }
    if (options.mqtts) {
      const { port = 8883, host: tlsHost = host, ...tls } = options.mqtts;
      const tcp = new TcpListener(this.mqtt, tlsHost, port, tls);
      this.listeners.push({ name: 'mqtts', listen: () => tcp.listen(), close: () => tcp.close() });
    }
    if (options.coap) {
      const coap = new CoapUdpListener(this.core, { ...options.coap, host: options.coap.host ?? host });
      this.coap = coap;
      this.listeners.push({ name: 'coap', listen: () => coap.listen(), close: () => coap.close() });
    }
    if (options.http) {
      const http = new HttpFrontEnd(this.core, this.mqtt, options.http, {
        host,
        maxOutboundBytes: this.limits.maxOutboundBytes,
      });
      this.http = http;
      this.listeners.push(http);
    }
  }

  /** Starts every configured listener; resolves with the addresses actually bound. */
  async listen(): Promise<ListeningAddresses> {
    const addresses: ListeningAddresses = {};
    for (const listener of this.listeners) {
      const address = await listener.listen();
      addresses[listener.name] = address;
      this.core.logger.info({ protocol: listener.name, ...address }, 'listening');
    }
    return addresses;
  }

  /**
   * Graceful shutdown: stop accepting, tell MQTT 5 clients the server is going away, flush what is
   * queued to every socket, then resolve once the sockets are closed.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = Promise.all(this.listeners.map((l) => l.close()));
      this.mqtt.closeAll();
      await stopped;
      for (const session of [...this.core.sessions.values()]) this.core.discardSession(session);
    })();
    return this.closing;
  }

  /** Publishes a message from the application itself (no authorization). Returns the deliveries made. */
  publish(input: PublishInput): number {
    const error = validateTopicName(input.topic, this.limits);
    if (error !== null) throw new TypeError(`invalid topic "${input.topic}": ${error}`);
    const payload =
      typeof input.payload === 'string'
        ? Buffer.from(input.payload)
        : Buffer.from(input.payload.buffer, input.payload.byteOffset, input.payload.byteLength);
    const message = new Message(
      input.topic,
      payload,
      input.qos ?? 0,
      input.retain ?? false,
      undefined,
      input.properties,
    );
    return this.core.publish(message, undefined);
  }

  on<K extends keyof BrokerEvents>(event: K, listener: (...args: BrokerEvents[K]) => void): this {
    this.core.on(event, listener as never);
    return this;
  }

  once<K extends keyof BrokerEvents>(event: K, listener: (...args: BrokerEvents[K]) => void): this {
    this.core.once(event, listener as never);
    return this;
  }

  off<K extends keyof BrokerEvents>(event: K, listener: (...args: BrokerEvents[K]) => void): this {
    this.core.off(event, listener as never);
    return this;
  }

  /**
   * Adds a consumer of every routed message, handed over in batches once per I/O callback (see
   * core/message-taps.ts for the contract). For consumers of every message, such as storage, it costs the publish
   * path less than a 'message' listener. Returns the function that removes it.
   */
  addMessageTap(tap: MessageTap): () => void {
    this.core.taps.add(tap);
    return () => this.core.taps.remove(tap);
  }

  /** Closes every live connection whose client matches (MQTT 5: reason 0x98 administrative action). */
  disconnectClients(
    match: (client: ClientInfo) => boolean,
    reason = 'disconnected by administrator',
  ): number {
    return this.core.disconnectClients(match, reason);
  }

  /** Removes the subscriptions for which `match(client, filter)` is true, on every protocol. */
  removeSubscriptions(match: (client: ClientInfo | undefined, filter: string) => boolean): number {
    return this.core.removeSubscriptions(match);
  }

  /** Forgets cached publish decisions (of one client, or all), after a policy change. */
  invalidateAuthorizations(clientId?: string): void {
    this.core.invalidateAuthorizations(clientId);
  }

  /** Live counters for metrics and tests. */
  stats(): BrokerStats {
    let droppedQos0 = 0;
    let droppedOverflow = 0;
    for (const s of this.core.sessions.values()) {
      droppedQos0 += s.stats.droppedQos0;
      droppedOverflow += s.stats.droppedOverflow;
    }
    return {
      connections: this.mqtt.connections.size,
      sessions: this.core.sessions.size,
      subscriptions: this.core.router.index.size,
      retained: this.core.retained.size,
      droppedQos0,
      droppedOverflow,
      ...this.mqtt.stats,
    };
  }
}

export interface BrokerStats {
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  /** QoS 0 deliveries dropped for congested or offline subscribers (live sessions only). */
  droppedQos0: number;
  /** QoS 1/2 deliveries dropped because the session queue was full (live sessions only). */
  droppedOverflow: number;
  malformed: number;
  tooLarge: number;
  keepaliveTimeouts: number;
  connectTimeouts: number;
  tlsErrors: number;
  tooLargeForClient: number;
  throttled: number;
  refusedConnections: number;
  expiredCredentials: number;
}

export function createBroker(options: BrokerOptions = {}): Broker {
  return new Broker(options);
}

export type { ClientInfo };
