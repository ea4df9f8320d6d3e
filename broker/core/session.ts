/**
 * An MQTT session: subscriptions and QoS 1/2 delivery state, which may outlive its connection.
 *
 * The session decides *what* goes out and when; the live connection (a `SessionLink`) decides *how*
 * (packet encoding). QoS 0 goes straight to the link or is dropped (and counted) when the link is
 * congested or absent. QoS 1/2 messages take a packet id while fewer than `inflightLimit` are
 * unacknowledged; the rest wait in a bounded queue, also while the client is offline. When that
 * queue is full, new QoS 1/2 messages for the session are dropped and counted, as Mosquitto does
 * beyond `max_queued_messages`: the client stays connected and gets everything it had queued. On
 * reconnect the unacknowledged ones are sent again with DUP set (or their PUBREL, for QoS 2 past
 * PUBREC).
 */
import type { ClientInfo } from './authorizer.js';
import { Deque } from './deque.js';
import { InflightTable, MAX_PACKET_ID } from './inflight-table.js';
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
  /** Another connection claims this session: this one ends. */
  takeover(): void;
}

/**
 * One QoS 1/2 delivery. A class rather than an object literal: V8 may pretenure a literal's
 * allocation site (allocate it straight into the old generation) after a scavenge in which many of
 * its objects survived, and every message such an object points to then survives scavenges too.
 * (Fan-in at QoS 1 fell into 10 ms pauses in 1 of 8 runs with a literal, in none with the class.)
 */
class Outgoing {
  packetId = 0;
  /** Set when it is sent (see InflightTable). */
  seq = 0;
  /** QoS 2: PUBREC received and PUBREL sent; only PUBCOMP is awaited. */
  released = false;

  constructor(
    readonly message: Message,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly subscriptionIds: readonly number[] | undefined,
  ) {}
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
  /** QoS 1/2 messages dropped because the queue was full (the client stays connected). */
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
  /**
   * Called at the first drop of an overflow episode (which ends once the queue has emptied), so the
   * owner can log it without a log line per dropped message.
   */
  onOverflow: ((session: Session) => void) | null = null;
  /** An MQTT 5 will waiting for its delay: cancelled by a reconnect, sent when the delay or the session ends. */
  pendingWill: { timer: NodeJS.Timeout; fire: () => void } | null = null;

  // Created on first use: an idle subscriber session should cost as little as possible.
  private incomingQos2Ids: Set<number> | null = null;
  private readonly inflight = new InflightTable<Outgoing>();
  private readonly queue = new Deque<Outgoing>();
  private inflightLimit: number;
  /** The queue overflowed and has not emptied since. */
  private overflowing = false;

  constructor(
    readonly id: string,
    /** Clean sessions end with their connection. */
    public clean: boolean,
    private readonly limits: SessionLimits,
  ) {
    this.inflightLimit = Math.min(limits.maxInflight, MAX_PACKET_ID);
  }

  get inflightCount(): number {
    return this.inflight.size;
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
    const out = new Outgoing(message, qos, retain, subscriptionIds);
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
    this.inflightLimit = Math.min(this.limits.maxInflight, receiveMaximum ?? MAX_PACKET_ID, MAX_PACKET_ID);
    if (this.expiryTimer) {
      clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
    }
    if (this.pendingWill) {
      clearTimeout(this.pendingWill.timer); // reconnected within the will delay: no will (MQTT-3.1.3-9)
      this.pendingWill = null;
    }
    for (const out of this.inflight.inOrder()) {
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
    const queue = this.queue;
    if (link === null || queue.length === 0) return;
    let now = 0;
    while (queue.length > 0 && this.inflight.size < this.inflightLimit && link.canWrite()) {
      const out = queue.shift()!;
      const expiresAt = out.message.expiresAt;
      if (expiresAt !== undefined && expiresAt <= (now ||= Date.now())) {
        this.stats.expired++;
        continue;
      }
      this.send(link, out);
    }
    if (queue.length === 0) this.overflowing = false;
  }

  /** Forgets all delivery state (a clean start). Subscriptions are the owner's to remove. */
  reset(): void {
    this.inflight.clear();
    this.queue.clear();
    this.overflowing = false;
    this.incomingQos2Ids = null;
  }

  private send(link: SessionLink, out: Outgoing): void {
    this.inflight.add(out);
    if (!link.writePublish(out.message, out.qos, out.retain, out.packetId, false, out.subscriptionIds)) {
      this.inflight.delete(out.packetId);
    }
  }

  private enqueue(out: Outgoing): void {
    if (this.queue.length >= this.limits.maxQueued) {
      this.stats.droppedOverflow++;
      if (!this.overflowing) {
        this.overflowing = true;
        this.onOverflow?.(this);
      }
      return;
    }
    out.message.ownPayload();
    this.queue.push(out);
  }
}
