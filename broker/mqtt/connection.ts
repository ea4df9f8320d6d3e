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
import { TokenBucket } from '../core/token-bucket.js';
import { handleAck, handlePubrel, handleShortAck } from './handle-ack.js';
import { handleConnect } from './handle-connect.js';
import { handleDisconnect } from './handle-disconnect.js';
import { handlePingreq } from './handle-pingreq.js';
import { handlePublishBytes, handlePublishPacket } from './handle-publish.js';
import { handleSubscribe } from './handle-subscribe.js';
import { handleUnsubscribe } from './handle-unsubscribe.js';
import type { MqttLimits } from './options.js';
import { parsePacket } from './packet-parser.js';
import { type FramingError, PacketReader, type PacketSink } from './packet-reader.js';
import {
  encodePublish,
  publishSize,
  type TopicMemo,
  writeAckInto,
  writePublishInto,
} from './publish-codec.js';
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
  readonly stats: {
    malformed: number;
    tooLarge: number;
    tooLargeForClient: number;
    throttled: number;
  };
}

/** A packet that arrived while an asynchronous decision was pending; replayed in order afterwards. */
interface Deferred {
  buf: Buffer;
  start: number;
  bodyStart: number;
  end: number;
}

/** Packets up to this size are copied into the connection's tail buffer; larger ones are queued as they are. */
const COPY_MAX = 512;
/** Bounds of the tail buffer size: below 4 KiB, Buffer.allocUnsafe slices Node's shared pool. */
const TAIL_MIN = 512;
const TAIL_MAX = 64 * 1024;

/** True when every UTF-16 unit of `s` is ASCII, so its UTF-8 length is its length. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
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
  /** When the client's credential expires (ms since epoch), from the Authorizer. */
  expiresAt: number | undefined = undefined;
  /** MQTT 5 Will Delay Interval, seconds. */
  willDelay = 0;
  /** MQTT 5: what the client told us in CONNECT. */
  clientMaxPacketSize = Number.POSITIVE_INFINITY;
  clientTopicAliasMaximum = 0;
  problemInformation = true;
  /** The topic this client last published to (see TopicMemo); created by its first PUBLISH. */
  topicMemo: TopicMemo | null = null;
  /** Inbound topic aliases (alias → topic) and the ones we assigned outbound (topic → alias). */
  inboundAliases: Map<number, string> | null = null;
  private outboundAliases: Map<string, number> | null = null;
  keepaliveMs = 0;
  lastActivity: number;
  readonly createdAt: number;
  readonly decisions: DecisionCache;
  readonly reader: PacketReader;
  transport!: Transport;

  /** This tick's output: whole buffers, then what `tail` holds (small packets written in place). */
  private outbound: Buffer[] = [];
  private outboundBytes = 0;
  private tail: Buffer | null = null;
  private tailUsed = 0;
  private tailSize = TAIL_MIN;
  private queuedForFlush = false;
  private pending: Promise<void> | null = null;
  private deferred: Deferred[] = [];
  private readonly publishBucket: TokenBucket | null;
  private readonly byteBucket: TokenBucket | null;
  private rateTimer: NodeJS.Timeout | null = null;

  constructor(readonly ctx: ConnectionContext) {
    this.createdAt = this.lastActivity = Date.now();
    this.decisions = new DecisionCache(ctx.core.limits.authorizationCacheTtlMs);
    this.reader = new PacketReader(this, ctx.limits.maxPacketSize);
    const { publishRatePerSecond: pr, byteRatePerSecond: br } = ctx.limits;
    this.publishBucket = pr > 0 ? new TokenBucket(pr) : null;
    this.byteBucket = br > 0 ? new TokenBucket(br, Math.max(br, ctx.limits.maxPacketSize)) : null;
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
    const result = this.process(buf, start, bodyStart, end);
    if (result !== undefined) this.waitFor(result);
  }

  /** Handles one packet; returns a promise when input must wait (an async decision or a rate limit). */
  private process(buf: Buffer, start: number, bodyStart: number, end: number): Promise<void> | undefined {
    const result = this.dispatch(buf, start, bodyStart, end);
    if (result !== undefined || (this.publishBucket === null && this.byteBucket === null)) return result;
    const wait = this.rateWait(buf[start]! >> 4 === 3, end - start);
    // At least 10 ms: waking per token would cost a timer per packet.
    return wait > 0 ? this.throttle(Math.max(wait, 10)) : undefined;
  }

  /** Milliseconds this client must wait after a packet to stay within its publish and byte rates. */
  private rateWait(isPublish: boolean, bytes: number): number {
    const now = this.lastActivity;
    let wait = 0;
    if (isPublish && this.publishBucket !== null && !this.publishBucket.take(1, now)) {
      wait = this.publishBucket.waitMs(now);
    }
    if (this.byteBucket !== null && !this.byteBucket.take(bytes, now)) {
      wait = Math.max(wait, this.byteBucket.waitMs(now));
    }
    return wait;
  }

  /**
   * A client over its rate stops being read, and the rest of its current chunk waits, until its
   * buckets refill: nothing is refused, TCP backpressure slows the client, other clients go on.
   */
  private throttle(ms: number): Promise<void> {
    this.ctx.stats.throttled++;
    return new Promise((resolve) => {
      this.rateTimer = setTimeout(() => {
        this.rateTimer = null;
        this.lastActivity = Date.now();
        resolve();
      }, ms);
    });
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
    if (type >= 4 && type <= 7 && handleShortAck(this, buf, start, bodyStart, end)) return undefined;
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
    const bytes = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    const result = parsePacket(bytes, this.version);
    if (result.packet === null) {
      this.protocolError(`malformed packet: ${result.error}`, ReasonCode.MalformedPacket);
      return null;
    }
    return result.packet;
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
          const next = this.process(d.buf, d.start, d.bodyStart, d.end);
          if (next !== undefined) {
            this.waitFor(next);
            return;
          }
        }
        if (this.state !== 'closed') this.transport.resume();
      });
  }

  // ---- output ------------------------------------------------------------------------------

  /** Queues bytes for this tick's flush; small packets are copied, so `data` may be reused after. */
  send(data: Buffer): void {
    if (this.state === 'closed') return;
    const n = data.length;
    if (n <= COPY_MAX) {
      const at = this.reserve(n);
      this.tail!.set(data, at);
      return;
    }
    this.sealTail();
    this.outbound.push(data);
    this.outboundBytes += n;
    this.markDirty();
  }

  /** Queues an acknowledgement (see `writeAckInto`) without allocating a buffer for it. */
  sendAck(type: 4 | 5 | 6 | 7, packetId: number, reasonCode = 0): void {
    if (this.state === 'closed') return;
    const at = this.reserve(reasonCode === 0 ? 4 : 5); // before reading `tail`: it may be replaced
    writeAckInto(this.tail!, at, type, packetId, reasonCode);
  }

  /**
   * Makes room for `n` bytes at the end of this tick's output and returns where they go in
   * `this.tail`. Packets written there need no buffer of their own and no copy at flush time.
   */
  private reserve(n: number): number {
    let tail = this.tail;
    let at = this.tailUsed;
    if (tail === null || tail.length - at < n) {
      if (tail !== null) this.sealTail();
      tail = this.tail = Buffer.allocUnsafe(Math.max(n, this.tailSize));
      at = 0;
    }
    this.tailUsed = at + n;
    this.outboundBytes += n;
    this.markDirty();
    return at;
  }

  /** Moves the filled part of the tail buffer into the outbound list. */
  private sealTail(): void {
    const tail = this.tail;
    if (tail === null) return;
    const used = this.tailUsed;
    this.outbound.push(used === tail.length ? tail : tail.subarray(0, used));
    // The next tail is sized for what this one carried: busy connections get few, large buffers,
    // quiet ones small slices of Node's shared pool.
    this.tailSize = used <= TAIL_MIN ? TAIL_MIN : Math.min(TAIL_MAX, 2 ** Math.ceil(Math.log2(used)));
    this.tail = null;
    this.tailUsed = 0;
  }

  private markDirty(): void {
    if (this.queuedForFlush) return;
    this.queuedForFlush = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(flushDirty);
    }
  }

  flush(): void {
    this.queuedForFlush = false;
    if (this.state === 'closed') return;
    this.sealTail();
    const outbound = this.outbound;
    const n = outbound.length;
    if (n === 0) return;
    const data = n === 1 ? outbound[0]! : Buffer.concat(outbound, this.outboundBytes);
    outbound.length = 0;
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
  ): boolean {
    const v5 = this.version === 5;
    let bytes: Buffer;
    if (
      v5 &&
      (message.properties !== undefined || subscriptionIds !== undefined || this.clientTopicAliasMaximum > 0)
    ) {
      bytes = encodePublishV5(
        message,
        qos,
        retain,
        packetId,
        dup,
        subscriptionIds,
        this.outboundAlias(message.topic),
      );
    } else if (qos === 0) {
      // The same bytes serve every QoS 0 subscriber with this protocol version and retain flag.
      const slot = (v5 ? 2 : 0) + (retain ? 1 : 0);
      const cache = (message.encoded ??= []);
      bytes = cache[slot] ??= encodePublish(message.topic, message.payload, 0, retain, false, 0, v5);
    } else {
      // Its own packet id: written straight into this tick's output.
      const topic = message.topic;
      const topicBytes = topic.length < 64 && isAscii(topic) ? topic.length : Buffer.byteLength(topic);
      const size = publishSize(topicBytes, message.payload.length, qos, v5);
      if (size > this.clientMaxPacketSize) {
        this.ctx.stats.tooLargeForClient++;
        return false;
      }
      if (this.state === 'closed') return true;
      const at = this.reserve(size);
      writePublishInto(this.tail!, at, topic, topicBytes, message.payload, qos, retain, dup, packetId, v5);
      return true;
    }
    if (bytes.length > this.clientMaxPacketSize) {
      // Never send a client more than it accepts; the message counts as delivered (MQTT-3.1.2-25).
      this.ctx.stats.tooLargeForClient++;
      return false;
    }
    this.send(bytes);
    return true;
  }

  /**
   * The outbound alias for `topic`: [alias, isNew]. Aliases are handed out to topics in the order they
   * are first sent until the client's maximum is used up; later topics go without one.
   */
  private outboundAlias(topic: string): [number, boolean] | undefined {
    if (this.clientTopicAliasMaximum === 0) return undefined;
    const aliases = (this.outboundAliases ??= new Map());
    const known = aliases.get(topic);
    if (known !== undefined) return [known, false];
    if (aliases.size >= this.clientTopicAliasMaximum) return undefined;
    const alias = aliases.size + 1;
    aliases.set(topic, alias);
    return [alias, true];
  }

  writePubrel(packetId: number): void {
    this.sendAck(6, packetId);
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
      const disconnect: mqttPacket.IDisconnectPacket = { cmd: 'disconnect', reasonCode };
      if (this.problemInformation && reasonCode >= 0x80) disconnect.properties = { reasonString: reason };
      this.send(mqttPacket.generate(disconnect, { protocolVersion: 5 }));
    }
    if (this.rateTimer !== null) clearTimeout(this.rateTimer);
    this.flush();
    this.state = 'closed';
    this.reader.stop();
    this.deferred = [];
    this.ctx.connections.delete(this);
    this.transport.end();

    const session = this.session;
    const ownsSession = session !== null && session.link === this;
    if (abnormal && this.will !== null && this.client !== null) {
      // Scheduled before the session is released: a session that ends now sends a delayed will at once.
      this.core.publishWill(this.will, this.client, ownsSession ? session : null, this.willDelay);
    }
    this.will = null;
    if (ownsSession) {
      session.detach(this);
      this.core.releaseSession(session, this.sessionExpiry);
    }
    if (wasConnected && this.client !== null) this.core.emit('clientDisconnected', this.client, reason);
  }

  /** Drops the connection at once (server shutdown without grace). */
  destroy(): void {
    this.close('server shutting down', false, ReasonCode.ServerShuttingDown);
    this.transport.destroy();
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
  alias: [number, boolean] | undefined,
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
  if (alias !== undefined) properties.topicAlias = alias[0];
  const packet: mqttPacket.IPublishPacket = {
    cmd: 'publish',
    // An alias already known to the client replaces the topic (MQTT-3.3.2-12).
    topic: alias !== undefined && !alias[1] ? '' : message.topic,
    payload: message.payload,
    qos,
    retain,
    dup,
    properties,
  };
  if (qos > 0) packet.messageId = packetId;
  return mqttPacket.generate(packet, { protocolVersion: 5 });
}
