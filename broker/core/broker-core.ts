/**
 * The protocol-independent heart of the broker: subscriptions, retained messages, sessions, routing
 * and authorization. Front-ends (MQTT, HTTP/WebSocket, CoAP) translate their wire into calls here.
 */
import { EventEmitter } from 'node:events';
import { type Authorizer, allowAll, type ClientInfo } from './authorizer.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { Message, QoS } from './message.js';
import { MessageTaps } from './message-taps.js';
import type { PayloadValidator } from './payload-validator.js';
import { RetainedStore } from './retained-store.js';
import { Router } from './router.js';
import { Session, type SessionLimits } from './session.js';
import { type Subscriber, Subscription, type SubscriptionOptions } from './subscription.js';
import { DEFAULT_TOPIC_LIMITS, parseSharedFilter, type TopicLimits } from './topic.js';

export interface CoreLimits extends TopicLimits, SessionLimits {
  /** Most retained topics. */
  maxRetained: number;
  /** Topics whose match result the index caches. */
  maxCachedTopics: number;
  /** How long an allowed/denied publish decision is reused per client (0 disables the cache). */
  authorizationCacheTtlMs: number;
  /** How long a persistent session outlives its connection when the protocol does not say (MQTT 3.1.1). */
  defaultSessionExpirySeconds: number;
}

export const DEFAULT_CORE_LIMITS: CoreLimits = {
  ...DEFAULT_TOPIC_LIMITS,
  maxInflight: 32,
  maxQueued: 1000,
  maxRetained: 100_000,
  maxCachedTopics: 16_384,
  authorizationCacheTtlMs: 30_000,
  defaultSessionExpirySeconds: 7200,
};

export interface BrokerEvents {
  clientConnected: [client: ClientInfo];
  clientDisconnected: [client: ClientInfo, reason: string];
  subscribed: [client: ClientInfo | undefined, filter: string, qos: QoS];
  unsubscribed: [client: ClientInfo | undefined, filter: string];
  /** Every routed message (only emitted while someone listens, so it costs nothing otherwise). */
  message: [message: Message, publisher: ClientInfo | undefined];
}

/** What every front-end lets management do to its live clients. */
export interface FrontEndControl {
  /** Closes the connections whose client matches; returns how many. */
  disconnect(match: (client: ClientInfo) => boolean, reason: string): number;
}

export interface CoreOptions {
  authorizer?: Authorizer;
  /** Checked before fan-out on every protocol (strict SenML channels); absent: every payload passes. */
  payloadValidator?: PayloadValidator;
  logger?: Logger;
  limits?: Partial<CoreLimits>;
}

export interface SubscribeResult {
  subscription: Subscription;
  /** False when it replaced an existing subscription on the same filter. */
  isNew: boolean;
  /** Retained messages the subscriber should now receive (already filtered by retain handling). */
  retained: Message[];
}

export class BrokerCore extends EventEmitter<BrokerEvents> {
  readonly router: Router;
  readonly retained: RetainedStore;
  readonly sessions = new Map<string, Session>();
  readonly authorizer: Authorizer;
  readonly payloadValidator: PayloadValidator | null;
  /** Publishes refused by the payload validator. */
  invalidPayloads = 0;
  readonly logger: Logger;
  readonly limits: CoreLimits;
  /** Front-ends register here so `invalidateAuthorizations` reaches every live client. */
  readonly authorizationListeners = new Set<(clientId?: string) => void>();
  /** Consumers of every routed message, in batches (message-taps.ts): the cheap form of the 'message' event. */
  readonly taps: MessageTaps;

  constructor(options: CoreOptions = {}) {
    super();
    this.limits = { ...DEFAULT_CORE_LIMITS, ...options.limits };
    this.authorizer = options.authorizer ?? allowAll;
    this.payloadValidator = options.payloadValidator ?? null;
    this.logger = options.logger ?? silentLogger;
    this.router = new Router(this.limits.maxCachedTopics);
    this.retained = new RetainedStore({ maxRetained: this.limits.maxRetained });
    this.taps = new MessageTaps(this.logger);
  }

  /**
   * Asks the payload validator (if any) whether a publish may be routed; counts refusals.
   * Returns null or the reason for refusing it.
   */
  checkPayload(topic: string, contentType: string | undefined, payload: Buffer): string | null {
    if (this.payloadValidator === null) return null;
    const reason = this.payloadValidator.validate(topic, contentType, payload);
    if (reason !== null) this.invalidPayloads++;
    return reason;
  }

  /** Routes a message (already authorized) and keeps it if retained. Returns the number of deliveries. */
  publish(message: Message, publisher?: ClientInfo): number {
    if (message.retain) {
      message.ownPayload();
      if (!this.retained.set(message)) {
        this.logger.warn({ topic: message.topic, max: this.limits.maxRetained }, 'retained store full');
      }
    }
    const n = this.router.route(message);
    if (this.taps.active) this.taps.collect(message, publisher);
    if (this.listenerCount('message') > 0) this.emit('message', message, publisher);
    return n;
  }

  /**
   * Adds (or replaces) a subscription. The caller has validated and authorized the filter.
   * The caller delivers `retained` after acknowledging the subscribe.
   */
  subscribe(
    subscriber: Subscriber,
    filter: string,
    options: SubscriptionOptions,
    client?: ClientInfo,
  ): SubscribeResult {
    const subscription = new Subscription(subscriber, filter, options);
    const shared = parseSharedFilter(filter);
    const inner = shared && shared !== 'invalid' ? shared.filter : filter;
    const group = shared && shared !== 'invalid' ? shared.group : undefined;
    const previous = this.router.index.add(inner, subscription, group);
    if (subscriber instanceof Session) subscriber.subscriptions.set(filter, subscription);
    const isNew = previous === undefined;
    let retained: Message[] = [];
    const rh = subscription.retainHandling;
    if (group === undefined && (rh === 0 || (rh === 1 && isNew))) retained = this.retained.match(inner);
    this.emit('subscribed', client, filter, options.qos);
    return { subscription, isNew, retained };
  }

  unsubscribe(subscriber: Subscriber, filter: string, client?: ClientInfo): boolean {
    const shared = parseSharedFilter(filter);
    const removed =
      shared && shared !== 'invalid'
        ? this.router.index.remove(shared.filter, subscriber.id, shared.group)
        : this.router.index.remove(filter, subscriber.id);
    if (subscriber instanceof Session) subscriber.subscriptions.delete(filter);
    if (removed) this.emit('unsubscribed', client, filter);
    return removed !== undefined;
  }

  /**
   * Finds or creates the session of `clientId`. With `cleanStart` an existing session is discarded
   * first. The caller has already ended any live connection of that session (takeover).
   */
  openSession(clientId: string, cleanStart: boolean): { session: Session; present: boolean } {
    const existing = this.sessions.get(clientId);
    if (existing && !cleanStart) return { session: existing, present: true };
    if (existing) this.discardSession(existing);
    const session = new Session(clientId, cleanStart, this.limits);
    session.onOverflow = (s) =>
      this.logger.warn(
        { clientId: s.id, dropped: s.stats.droppedOverflow, maxQueued: this.limits.maxQueued },
        'session queue full: new QoS 1/2 messages are dropped until it has emptied',
      );
    this.sessions.set(clientId, session);
    return { session, present: false };
  }

  /**
   * The session's connection is gone. It is kept for `expirySeconds` (0: forgotten now), during which
   * QoS 1/2 messages for it are queued.
   */
  releaseSession(session: Session, expirySeconds: number): void {
    if (session.link !== null) return;
    if (expirySeconds <= 0) {
      this.discardSession(session);
      return;
    }
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    // 0xFFFFFFFF means "never" in MQTT 5; setTimeout cannot wait longer than ~24.8 days anyway.
    if (expirySeconds >= 0xffff_ffff) return;
    session.expiryTimer = setTimeout(
      () => this.discardSession(session),
      Math.min(expirySeconds * 1000, 2 ** 31 - 1),
    );
    session.expiryTimer.unref();
  }

  /**
   * Publishes a will on behalf of `client` if the authorizer allows it. With a delay (MQTT 5 Will Delay
   * Interval) it waits on the session: a reconnect cancels it, the end of the session sends it at once.
   */
  publishWill(will: Message, client: ClientInfo, session: Session | null, delaySeconds = 0): void {
    const fire = (): void => {
      if (session) session.pendingWill = null;
      const decision = this.authorizer.authorizePublish(client, will.topic);
      const publish = (allowed: boolean): void => {
        if (allowed) this.publish(will, client);
        else this.logger.info({ clientId: client.id, topic: will.topic }, 'will not authorized');
      };
      if (typeof decision === 'boolean') publish(decision);
      else decision.then(publish, (err: unknown) => this.logger.error({ err }, 'will authorization failed'));
    };
    if (delaySeconds <= 0 || session === null) {
      fire();
      return;
    }
    if (session.pendingWill) clearTimeout(session.pendingWill.timer);
    const timer = setTimeout(fire, Math.min(delaySeconds * 1000, 2 ** 31 - 1));
    timer.unref();
    session.pendingWill = { timer, fire };
  }

  /** Removes a session and all its subscriptions (sending a will that was waiting for its delay). */
  discardSession(session: Session): void {
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = null;
    const will = session.pendingWill;
    if (will) {
      clearTimeout(will.timer);
      will.fire();
    }
    for (const filter of [...session.subscriptions.keys()]) this.unsubscribe(session, filter);
    session.reset();
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
  }

  /** Front-ends register here so management can reach their live clients. */
  readonly frontEnds = new Set<FrontEndControl>();

  /** Closes every live connection (any protocol) whose client matches; returns how many. */
  disconnectClients(match: (client: ClientInfo) => boolean, reason: string): number {
    let n = 0;
    for (const f of this.frontEnds) n += f.disconnect(match, reason);
    return n;
  }

  /**
   * Removes the subscriptions for which `match(client, filter)` is true (e.g. after a revoked right),
   * whatever protocol holds them. Returns how many were removed.
   */
  removeSubscriptions(match: (client: ClientInfo | undefined, filter: string) => boolean): number {
    const doomed: Subscription[] = [];
    for (const { subscription } of this.router.index.entries()) {
      const client = subscription.subscriber.client ?? undefined;
      if (match(client, subscription.filter)) doomed.push(subscription);
    }
    for (const s of doomed) {
      this.unsubscribe(s.subscriber, s.filter, s.subscriber.client ?? undefined);
      s.subscriber.revoked?.(s.filter);
    }
    return doomed.length;
  }

  /** Forget cached publish decisions (all clients, or one), e.g. after a policy change. */
  invalidateAuthorizations(clientId?: string): void {
    for (const listener of this.authorizationListeners) listener(clientId);
  }
}
