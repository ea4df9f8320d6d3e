/**
 * A message as the broker routes it, whatever protocol it arrived on.
 *
 * One instance is shared by every delivery of a publish. Protocol front-ends may cache their
 * encoding of it in `encoded` (e.g. one MQTT PUBLISH packet reused for every QoS 0 subscriber).
 */
export type QoS = 0 | 1 | 2;

/** MQTT 5 PUBLISH properties that travel with a message end to end. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  /** Seconds, as received; the broker sends the remaining interval (see `Message.expiresAt`). */
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
}

export class Message {
  /** Per-protocol encodings of this message, filled lazily by the front-ends; index is theirs to define. */
  encoded: (Buffer | undefined)[] | null = null;
  /** Absolute expiry (ms since epoch) from the message expiry interval, if any. */
  readonly expiresAt: number | undefined;
  /** Creation time, ms since epoch. */
  readonly created: number;
  /** `ownPayload` has run. */
  private payloadOwned = false;

  constructor(
    readonly topic: string,
    public payload: Buffer,
    readonly qos: QoS,
    readonly retain: boolean,
    /** Identifies the publisher (an MQTT client id or a front-end's connection id), for no-local. */
    readonly publisherId: string | undefined = undefined,
    readonly properties: MessageProperties | undefined = undefined,
    created: number = Date.now(),
  ) {
    this.created = created;
    const expiry = properties?.messageExpiryInterval;
    this.expiresAt = expiry === undefined ? undefined : created + expiry * 1000;
  }

  /**
   * Makes sure the payload does not pin a larger buffer (a socket read chunk) in memory.
   * Called before a message is kept beyond the current delivery: retained, or queued for later.
   */
  ownPayload(): void {
    if (this.payloadOwned) return;
    // Once copied, the payload is a slice of Node's small shared pool: copying it again (for the
    // next subscriber that queues it) would gain nothing.
    this.payloadOwned = true;
    const p = this.payload;
    if (p.byteLength < p.buffer.byteLength) this.payload = Buffer.from(p);
  }

  /** A copy with other routing flags (the same payload bytes), e.g. a will or a retained re-delivery. */
  withQosRetain(qos: QoS, retain: boolean): Message {
    return new Message(
      this.topic,
      this.payload,
      qos,
      retain,
      this.publisherId,
      this.properties,
      this.created,
    );
  }
}

/** The QoS a delivery gets: the lower of the published and the granted one. */
export function minQos(a: QoS, b: QoS): QoS {
  return a < b ? a : b;
}
