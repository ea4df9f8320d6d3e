/**
 * An MQTT session: subscriptions and QoS 1/2 delivery state, which may outlive its connection.
 *
 * The session decides *what* goes out and when; the live connection (a `SessionLink`) decides *how*
 * (packet encoding). QoS 0 goes straight to the link or is dropped (and counted) when the link is
 * congested or absent. QoS 1/2 messages take a packet id while fewer than `inflightLimit` are
 * unacknowledged; the rest wait in a bounded queue, also while the client is offline. On reconnect
 * the unacknowledged ones are sent again with DUP set (or their PUBREL, for QoS 2 past PUBREC).
 */
import type { ClientInfo } from './authorizer.js';
import { Deque } from './deque.js';
import type { Message, QoS } from './message.js';
import type { Subscriber, Subscription } from './subscription.js';

/** The live connection of a session, implemented by a protocol front-end. */
export interface SessionLink {
  /** True while the connection's outbound buffer is under its bound. */
  canWrite(): boolean;
  /**
   * Sends a PUBLISH. Returns false when the link will never be able to send this message (e.g. it is
   * larger than the client's Maximum Packet Size): the session then treats it as done (MQTT-3.1.2-25).
   */
  writePublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup: boolean,
    subscriptionIds: readonly number[] | undefined,
  ): boolean;
  writePubrel(packetId: number): void;
  /** The session's queue overflowed while this link was live: the link closes (quota exceeded). */
  queueOverflow(): void;
  /** Another connection claims this session: this one ends. */
  takeover(): void;
}

interface Outgoing {
  message: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds: readonly number[] | undefined;
  packetId: number;
  /** QoS 2: PUBREC received and PUBREL sent; only PUBCOMP is awaited. */
  released: boolean;
}

export interface SessionLimits {
  /** Most unacknowledged QoS 1/2 messages sent to the client at once. */
  maxInflight: number;
  /** Most QoS 1/2 messages waiting beyond the in-flight window (online or offline). */
  maxQueued: number;
}

export interface SessionStats {
  /** QoS 0 messages dropped because the connection was congested or the client offline. */
  droppedQos0: number;
  /** QoS 1/2 messages refused because the queue was full. */
  droppedOverflow: number;
  /** Messages dropped because their expiry interval passed while they waited. */
  expired: number;
}

export class Session implements Subscriber {
  link: SessionLink | null = null;
  /** The client of the current (or last) connection. */
  client: ClientInfo | null = null;
  /** Filter (as subscribed) → subscription. */
  readonly subscriptions = new Map<string, Subscription>();
  /** QoS 2 packet ids received from the client whose PUBREL has not arrived yet (exactly-once). */
  get incomingQos2(): Set<number> {
    return (this.incomingQos2Ids ??= new Set());
  }
  readonly stats: SessionStats = { droppedQos0: 0, droppedOverflow: 0, expired: 0 };
  /** Set by the session store when the connection goes: when this session is forgotten. */
  expiryTimer: NodeJS.Timeout | null = null;
  /** Called (once per overflow) so the owner can log it. */
  onOverflow: ((session: Session) => void) | null = null;
  /** An MQTT 5 will waiting for its delay: cancelled by a reconnect, sent when the delay or the session ends. */
  pendingWill: { timer: NodeJS.Timeout; fire: () => void } | null = null;

  // Both created on first use: an idle subscriber session should cost as little as possible.
  private incomingQos2Ids: Set<number> | null = null;
  private inflightById: Map<number, Outgoing> | null = null;
  private readonly queue = new Deque<Outgoing>();
  private nextPacketId = 1;
  private inflightLimit: number;

  constructor(
    readonly id: string,
    /** Clean sessions end with their connection. */
    public clean: boolean,
    private readonly limits: SessionLimits,
  ) {
    this.inflightLimit = limits.maxInflight;
  }

  get inflightCount(): number {
    return this.inflightById?.size ?? 0;
  }

  private get inflight(): Map<number, Outgoing> {
    return (this.inflightById ??= new Map());
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | undefined): void {
    const link = this.link;
    if (qos === 0) {
      if (link?.canWrite()) link.writePublish(message, 0, retain, 0, false, subscriptionIds);
      else this.stats.droppedQos0++;
      return;
    }
    const out: Outgoing = { message, qos, retain, subscriptionIds, packetId: 0, released: false };
    if (
      link !== null &&
      this.queue.length === 0 &&
      this.inflight.size < this.inflightLimit &&
      link.canWrite()
    ) {
      this.send(link, out);
    } else {
      this.enqueue(out);
    }
  }

  /**
   * Attaches a live connection: resends what was unacknowledged (DUP), then what was queued.
   * `receiveMaximum` is the client's own limit on in-flight messages (MQTT 5), if it gave one.
   */
  attach(link: SessionLink, receiveMaximum?: number): void {
    this.link = link;
    this.inflightLimit = Math.min(this.limits.maxInflight, receiveMaximum ?? Number.POSITIVE_INFINITY);
    if (this.expiryTimer) {
      clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
    }
    if (this.pendingWill) {
      clearTimeout(this.pendingWill.timer); // reconnected within the will delay: no will (MQTT-3.1.3-9)
      this.pendingWill = null;
    }
    for (const out of [...(this.inflightById?.values() ?? [])]) {
      if (out.released) link.writePubrel(out.packetId);
      else if (
        !link.writePublish(out.message, out.qos, out.retain, out.packetId, true, out.subscriptionIds)
      ) {
        this.inflight.delete(out.packetId);
      }
    }
    this.pump();
  }

  detach(link: SessionLink): void {
    if (this.link === link) this.link = null;
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the delivery is complete. False if the id was unknown. */
  complete(packetId: number, qos: QoS): boolean {
    const out = this.inflight.get(packetId);
    if (out === undefined || out.qos !== qos || (qos === 2 && !out.released)) return false;
    this.inflight.delete(packetId);
    this.pump();
    return true;
  }

  /** Drops an in-flight message the client refused (MQTT 5 PUBREC with a failure reason). */
  abandon(packetId: number): boolean {
    if (!this.inflight.delete(packetId)) return false;
    this.pump();
    return true;
  }

  /** PUBREC (QoS 2): the client has the message; answer PUBREL and await PUBCOMP. */
  received(packetId: number): boolean {
    const out = this.inflight.get(packetId);
    if (out === undefined || out.qos !== 2) return false;
    out.released = true;
    this.link?.writePubrel(packetId);
    return true;
  }

  /** Sends queued messages while the window and the connection allow it. */
  pump(): void {
    const link = this.link;
    if (link === null) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.inflight.size < this.inflightLimit && link.canWrite()) {
      const out = this.queue.shift()!;
      if (out.message.expiresAt !== undefined && out.message.expiresAt <= now) {
        this.stats.expired++;
        continue;
      }
      this.send(link, out);
    }
  }

  /** Forgets all delivery state (a clean start). Subscriptions are the owner's to remove. */
  reset(): void {
    this.inflightById = null;
    this.queue.clear();
    this.incomingQos2Ids = null;
    this.nextPacketId = 1;
  }

  private send(link: SessionLink, out: Outgoing): void {
    out.packetId = this.allocatePacketId();
    this.inflight.set(out.packetId, out);
    if (!link.writePublish(out.message, out.qos, out.retain, out.packetId, false, out.subscriptionIds)) {
      this.inflight.delete(out.packetId);
    }
  }

  private enqueue(out: Outgoing): void {
    if (this.queue.length >= this.limits.maxQueued) {
      this.stats.droppedOverflow++;
      this.onOverflow?.(this);
      this.link?.queueOverflow();
      return;
    }
    out.message.ownPayload();
    this.queue.push(out);
  }

  private allocatePacketId(): number {
    // The in-flight window is far below 65535, so a free id is always near.
    let id = this.nextPacketId;
    while (this.inflight.has(id)) id = id === 65_535 ? 1 : id + 1;
    this.nextPacketId = id === 65_535 ? 1 : id + 1;
    return id;
  }
}
