/**
 * What a subscription is to the router: who receives, and with which options.
 */
import type { ClientInfo } from './authorizer.js';
import type { Message, QoS } from './message.js';
import type { IndexedSubscription } from './topic-index.js';

/** Anything that can receive routed messages: an MQTT session, a WebSocket, an SSE stream, a CoAP observer. */
export interface Subscriber {
  /** Unique among live subscribers; for MQTT the client id (no-local compares it to `Message.publisherId`). */
  readonly id: string;
  /** Who is behind this subscriber, when known (for management actions such as revoking access). */
  readonly client?: ClientInfo | null;
  /**
   * Called synchronously by the router for each matching message.
   * `qos` is already min(published, granted); `retain` is the flag as the receiver should see it;
   * `subscriptionIds` lists the MQTT 5 subscription identifiers of the matching subscriptions.
   */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | undefined): void;
  /**
   * Called after management removed this subscriber's subscription on `filter` (a revoked right), so
   * a front-end that tracks its subscribers can drop this one and tell its client.
   */
  revoked?(filter: string): void;
}

export interface SubscriptionOptions {
  qos: QoS;
  /** MQTT 5: do not deliver this subscriber's own publishes back to it. */
  noLocal?: boolean;
  /** MQTT 5: keep the publisher's retain flag on forwarded messages (otherwise 0). */
  retainAsPublished?: boolean;
  /** MQTT 5: 0 send retained on subscribe, 1 only if the subscription is new, 2 never. */
  retainHandling?: 0 | 1 | 2;
  /** MQTT 5 subscription identifier, echoed on matching deliveries. */
  subscriptionId?: number;
}

export class Subscription implements IndexedSubscription {
  readonly subscriberId: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  /** Precomputed so a delivery does not allocate it. */
  readonly subscriptionIds: readonly number[] | undefined;

  constructor(
    readonly subscriber: Subscriber,
    /** The filter as subscribed, `$share/<group>/` prefix included. */
    readonly filter: string,
    options: SubscriptionOptions,
  ) {
    this.subscriberId = subscriber.id;
    this.qos = options.qos;
    this.noLocal = options.noLocal ?? false;
    this.retainAsPublished = options.retainAsPublished ?? false;
    this.retainHandling = options.retainHandling ?? 0;
    this.subscriptionIds = options.subscriptionId ? Object.freeze([options.subscriptionId]) : undefined;
  }
}
