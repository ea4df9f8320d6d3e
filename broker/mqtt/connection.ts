/**
 * One MQTT client connection over any byte stream: framing, packet dispatch, outbound batching and
 * the connection lifecycle (keepalive, will, takeover, close). Each packet verb is handled in its own
 * `handle-*.ts` file; this file holds only what they share.
 */
import mqttPacket from 'mqtt-packet';
import type { ClientInfo } from '../core/authorizer.js';
import type { BrokerCore } from '../core/broker-core.js';
import { DecisionCache } from '../core/decision-cache.js';
import type { Message, QoS } from '../core/message.js';
import type { Session, SessionLink } from '../core/session.js';
import { handleAck, handlePubrel } from './handle-ack.js';
import { handleConnect } from './handle-connect.js';
import { handleDisconnect } from './handle-disconnect.js';
import { handlePingreq } from './handle-pingreq.js';
import { handlePublishBytes, handlePublishPacket } from './handle-publish.js';
import { handleSubscribe } from './handle-subscribe.js';
import { handleUnsubscribe } from './handle-unsubscribe.js';
import type { MqttLimits } from './options.js';
import { type FramingError, PacketReader, type PacketSink } from './packet-reader.js';
import { encodeAck, encodePublish } from './publish-codec.js';
import { ReasonCode } from './reason-codes.js';
import type { Transport, TransportHandler } from './transport.js';

export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

/** Shared by all connections of a front-end. */
export interface ConnectionContext {
  readonly core: BrokerCore;
  readonly limits: MqttLimits;
  readonly protocol: 'mqtt' | 'mqtt-ws';
  readonly connections: Set<MqttConnection>;
  /** Counters for metrics and tests. */
  readonly stats: { malformed: number; tooLarge: number; overflowDisconnects: number };
}

/** A packet that arrived while an asynchronous decision was pending; replayed in order afterwards. */
interface Deferred {
  buf: Buffer;
  start: number;
  bodyStart: number;
  end: number;
}

// Every connection with unsent output is flushed once, at the end of the current tick: a burst of
// deliveries to one subscriber becomes one write instead of one per packet.
const dirty: MqttConnection[] = [];
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

export class MqttConnection implements SessionLink, PacketSink, TransportHandler {
  state: ConnectionState = 'awaiting-connect';
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5; known after CONNECT. */
  version = 4;
  clientId = '';
  client: ClientInfo | null = null;
  session: Session | null = null;
  will: Message | null = null;
  /** Seconds the session outlives this connection. */
  sessionExpiry = 0;
  keepaliveMs = 0;
  lastActivity: number;
  readonly createdAt: number;
  readonly decisions: DecisionCache;
  readonly reader: PacketReader;
  transport!: Transport;

  private parser: mqttPacket.Parser | null = null;
  private parsed: mqttPacket.Packet | null = null;
  private parseError: Error | null = null;
  private outbound: Buffer[] = [];
  private outboundBytes = 0;
  private queuedForFlush = false;
  private pending: Promise<void> | null = null;
  private deferred: Deferred[] = [];

  constructor(readonly ctx: ConnectionContext) {
    this.createdAt = this.lastActivity = Date.now();
    this.decisions = new DecisionCache(ctx.core.limits.authorizationCacheTtlMs);
    this.reader = new PacketReader(this, ctx.limits.maxPacketSize);
    ctx.connections.add(this);
  }

  get core(): BrokerCore {
    return this.ctx.core;
  }

  get v5(): boolean {
    return this.version === 5;
  }

  // ---- input -------------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    this.reader.push(chunk);
  }

  onPacket(buf: Buffer, start: number, bodyStart: number, end: number): void {
    if (this.pending !== null) {
      this.deferred.push({ buf, start, bodyStart, end });
      return;
    }
    const result = this.dispatch(buf, start, bodyStart, end);
    if (result !== undefined) this.waitFor(result);
  }

  onFramingError(error: FramingError, declaredSize?: number): void {
    if (error === 'packet-too-large') {
      this.ctx.stats.tooLarge++;
      this.core.logger.info({ clientId: this.clientId, size: declaredSize }, 'packet too large');
      this.close('packet too large', true, ReasonCode.PacketTooLarge);
    } else {
      this.protocolError('malformed remaining length', ReasonCode.MalformedPacket);
    }
  }

  private dispatch(buf: Buffer, start: number, bodyStart: number, end: number): Promise<void> | undefined {
    const type = buf[start]! >> 4;
    if (this.state !== 'connected') {
      if (this.state === 'awaiting-connect' && type === 1) {
        const packet = this.parse(buf, start, end);
        return packet?.cmd === 'connect' ? handleConnect(this, packet) : undefined;
      }
      if (this.state !== 'closed') this.protocolError(`packet type ${type} before CONNECT`);
      return undefined;
    }
    if (type === 3) return handlePublishBytes(this, buf, start, bodyStart, end);
    const packet = this.parse(buf, start, end);
    if (packet === null) return undefined;
    switch (packet.cmd) {
      case 'publish':
        return handlePublishPacket(this, packet);
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        handleAck(this, packet);
        return undefined;
      case 'pubrel':
        handlePubrel(this, packet);
        return undefined;
      case 'subscribe':
        return handleSubscribe(this, packet);
      case 'unsubscribe':
        handleUnsubscribe(this, packet);
        return undefined;
      case 'pingreq':
        handlePingreq(this);
        return undefined;
      case 'disconnect':
        handleDisconnect(this, packet);
        return undefined;
      case 'connect':
        this.protocolError('second CONNECT');
        return undefined;
      case 'auth':
        // Enhanced authentication is not offered: the CONNACK never announced a method.
        this.close('AUTH not supported', true, ReasonCode.ProtocolError);
        return undefined;
      default:
        this.protocolError(`unexpected ${packet.cmd} from a client`);
        return undefined;
    }
  }

  /** Parses one whole packet with mqtt-packet; on failure closes the connection and returns null. */
  parse(buf: Buffer, start: number, end: number): mqttPacket.Packet | null {
    if (this.parser === null) {
      const parser = mqttPacket.parser();
      parser.on('packet', (p: mqttPacket.Packet) => {
        this.parsed = p;
      });
      parser.on('error', (e: Error) => {
        this.parseError = e;
      });
      this.parser = parser;
    }
    this.parsed = null;
    this.parseError = null;
    this.parser.parse(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    // Both are set by the parser's synchronous events during parse().
    const packet = this.parsed as mqttPacket.Packet | null;
    const error = this.parseError as Error | null;
    if (error !== null || packet === null) {
      this.protocolError(`malformed packet: ${error?.message ?? 'incomplete'}`, ReasonCode.MalformedPacket);
      return null;
    }
    return packet;
  }

  /** Holds further input until an asynchronous handler (authorization) has finished, preserving order. */
  private waitFor(promise: Promise<void>): void {
    this.pending = promise;
    this.transport.pause();
    promise
      .catch((err: unknown) => {
        this.core.logger.error({ err, clientId: this.clientId }, 'packet handler failed');
        this.close('internal error', true, ReasonCode.UnspecifiedError);
      })
      .finally(() => {
        this.pending = null;
        while (this.deferred.length > 0 && this.pending === null && this.state !== 'closed') {
          const d = this.deferred.shift()!;
          const next = this.dispatch(d.buf, d.start, d.bodyStart, d.end);
          if (next !== undefined) {
            this.waitFor(next);
            return;
          }
        }
        if (this.state !== 'closed') this.transport.resume();
      });
  }

  // ---- output ------------------------------------------------------------------------------

  /** Queues bytes for this tick's flush. */
  send(data: Buffer): void {
    if (this.state === 'closed') return;
    this.outbound.push(data);
    this.outboundBytes += data.length;
    if (!this.queuedForFlush) {
      this.queuedForFlush = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushDirty);
      }
    }
  }

  flush(): void {
    this.queuedForFlush = false;
    const n = this.outbound.length;
    if (n === 0 || this.state === 'closed') return;
    const data = n === 1 ? this.outbound[0]! : Buffer.concat(this.outbound, this.outboundBytes);
    this.outbound = [];
    this.outboundBytes = 0;
    this.transport.write(data);
  }

  canWrite(): boolean {
    return this.outboundBytes + this.transport.bufferedBytes() < this.ctx.limits.maxOutboundBytes;
  }

  onDrain(): void {
    this.session?.pump();
  }

  writePublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup: boolean,
    subscriptionIds: readonly number[] | undefined,
  ): void {
    const v5 = this.version === 5;
    const props = message.properties;
    if (v5 && (props !== undefined || subscriptionIds !== undefined)) {
      this.send(encodePublishV5(message, qos, retain, packetId, dup, subscriptionIds));
      return;
    }
    if (qos === 0) {
      // The same bytes serve every QoS 0 subscriber with this protocol version and retain flag.
      const slot = (v5 ? 2 : 0) + (retain ? 1 : 0);
      const cache = (message.encoded ??= []);
      let bytes = cache[slot];
      if (bytes === undefined) {
        bytes = encodePublish(message.topic, message.payload, 0, retain, false, 0, v5);
        cache[slot] = bytes;
      }
      this.send(bytes);
      return;
    }
    this.send(encodePublish(message.topic, message.payload, qos, retain, dup, packetId, v5));
  }

  writePubrel(packetId: number): void {
    this.send(encodeAck(6, packetId));
  }

  queueOverflow(): void {
    this.ctx.stats.overflowDisconnects++;
    this.core.logger.warn({ clientId: this.clientId }, 'disconnecting a client whose QoS 1/2 queue is full');
    this.close('queue overflow', true, ReasonCode.QuotaExceeded);
  }

  takeover(): void {
    this.close('session taken over', true, ReasonCode.SessionTakenOver);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  protocolError(reason: string, code: number = ReasonCode.ProtocolError): void {
    if (this.state === 'closed') return;
    this.ctx.stats.malformed++;
    this.core.logger.info(
      { clientId: this.clientId, remote: this.transport.remoteAddress, reason },
      'protocol error',
    );
    this.close(reason, true, code);
  }

  /** The transport went away (socket closed or errored). */
  onClose(reason: string): void {
    this.close(reason, true);
  }

  /**
   * Ends the connection. `abnormal` publishes the will (anything but a client DISCONNECT).
   * With MQTT 5 and a reason code, a DISCONNECT carrying it is sent first.
   */
  close(reason: string, abnormal: boolean, reasonCode?: number): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    if (wasConnected && this.version === 5 && reasonCode !== undefined) {
      this.send(mqttPacket.generate({ cmd: 'disconnect', reasonCode }, { protocolVersion: 5 }));
    }
    this.flush();
    this.state = 'closed';
    this.reader.stop();
    this.deferred = [];
    this.ctx.connections.delete(this);
    this.transport.end();

    const session = this.session;
    if (session !== null && session.link === this) {
      session.detach(this);
      this.core.releaseSession(session, this.sessionExpiry);
    }
    if (abnormal && this.will !== null) this.publishWill(this.will);
    this.will = null;
    if (wasConnected && this.client !== null) this.core.emit('clientDisconnected', this.client, reason);
  }

  /** Drops the connection at once (server shutdown without grace). */
  destroy(): void {
    this.close('server shutting down', false, ReasonCode.ServerShuttingDown);
    this.transport.destroy();
  }

  private publishWill(will: Message): void {
    const client = this.client;
    if (client === null) return;
    const decision = this.core.authorizer.authorizePublish(client, will.topic);
    const publish = (allowed: boolean): void => {
      if (allowed) this.core.publish(will, client);
      else this.core.logger.info({ clientId: client.id, topic: will.topic }, 'will not authorized');
    };
    if (typeof decision === 'boolean') publish(decision);
    else
      decision.then(publish, (err: unknown) => this.core.logger.error({ err }, 'will authorization failed'));
  }

  /** Sends a packet built by mqtt-packet for this connection's protocol version. */
  sendPacket(packet: mqttPacket.Packet): void {
    this.send(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }
}

function encodePublishV5(
  message: Message,
  qos: QoS,
  retain: boolean,
  packetId: number,
  dup: boolean,
  subscriptionIds: readonly number[] | undefined,
): Buffer {
  const properties: NonNullable<mqttPacket.IPublishPacket['properties']> = { ...message.properties };
  if (message.expiresAt !== undefined) {
    // Forward the remaining lifetime, not the original interval (MQTT-3.3.2-6).
    properties.messageExpiryInterval = Math.max(0, Math.ceil((message.expiresAt - Date.now()) / 1000));
  }
  if (subscriptionIds !== undefined) {
    properties.subscriptionIdentifier =
      subscriptionIds.length === 1 ? subscriptionIds[0]! : [...subscriptionIds];
  }
  const packet: mqttPacket.IPublishPacket = {
    cmd: 'publish',
    topic: message.topic,
    payload: message.payload,
    qos,
    retain,
    dup,
    properties,
  };
  if (qos > 0) packet.messageId = packetId;
  return mqttPacket.generate(packet, { protocolVersion: 5 });
}
