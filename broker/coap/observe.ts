/**
 * Observe (RFC 7641): each registration (GET with Observe 0) is a broker `Subscriber` on the topic
 * filter of its path; every routed message becomes a 2.05 notification with the next Observe number.
 *
 * Notifications are NON, except every `observeConEvery`-th one, or the first after
 * `observeConIntervalMs`, which is CON: an observer that acknowledges none of the retransmissions is
 * gone and is removed (RFC 7641 §4.5). At most one CON is outstanding per observer; notifications sent
 * meanwhile go as NON. An RST to any notification, or a GET with Observe 1, deregisters.
 * Notifications are best effort, like MQTT QoS 0: nothing is queued for an observer.
 */
import type { ClientInfo } from '../core/authorizer.js';
import type { BrokerCore } from '../core/broker-core.js';
import type { Logger } from '../core/logger.js';
import type { Message, QoS } from '../core/message.js';
import type { Subscriber } from '../core/subscription.js';
import { blockSizeOf, encodeBlock } from './block-option.js';
import { type Block2Bodies, nextEtag } from './block2.js';
import { encodeMessage, type OutgoingOption } from './codec.js';
import { Code, MessageType, OptionNumber } from './codes.js';
import { contentFormatOf } from './content-format.js';
import type { MessageLayer } from './message-layer.js';
import { type Peer, RecentMessages, type ResetListener } from './peers.js';
import type { ConfirmableCallbacks } from './retransmit.js';
import type { CoapSettings } from './settings.js';
import type { CoapCounters } from './stats.js';

export interface ObserveDependencies {
  readonly core: BrokerCore;
  readonly layer: MessageLayer;
  readonly settings: CoapSettings;
  readonly counters: CoapCounters;
  readonly bodies: Block2Bodies;
  readonly logger: Logger;
}

/** The key under which a Block2 body of `path` sent to `peer` waits for its follow-up reads. */
export function bodyKey(peer: Peer, path: string): string {
  return `${peer.key} ${path}`;
}

export class CoapObserver implements Subscriber, ResetListener {
  readonly id: string;
  active = true;
  /** SZX of the blocks a large notification is cut into (the client's choice, if smaller than ours). */
  szx: number;
  client: ClientInfo;
  /** When the credential it registered with expires (the observer is then removed), if it does. */
  validUntil: number | undefined = undefined;
  private sequence = 0;
  private sinceConfirmable = 0;
  private lastConfirmableAt = Date.now();
  private confirmableInFlight = false;
  private readonly callbacks: ConfirmableCallbacks = {
    onAcknowledged: () => {
      this.confirmableInFlight = false;
    },
    onReset: () => this.registry.remove(this, 'reset'),
    onGiveUp: () => this.registry.remove(this, 'no ACK to a confirmable notification'),
  };

  constructor(
    private readonly registry: ObserverRegistry,
    private readonly deps: ObserveDependencies,
    readonly key: string,
    readonly peer: Peer,
    /** A copy: the request's token outlives its datagram. */
    readonly token: Buffer,
    public filter: string,
    szx: number,
    client: ClientInfo,
  ) {
    this.id = `coap:${key}`;
    this.szx = szx;
    this.client = client;
  }

  /** The Observe value of the next response or notification (24 bits, wrapping). */
  nextSequence(): number {
    this.sequence = (this.sequence + 1) & 0xff_ffff;
    return this.sequence;
  }

  /** Called by the router on the hot path: encode and send, never throw. */
  deliver(message: Message, _qos: QoS, _retain: boolean, _ids: readonly number[] | undefined): void {
    if (!this.active) return;
    try {
      this.notify(message);
    } catch (err) {
      this.deps.logger.error({ err, observer: this.id }, 'CoAP notification failed');
    }
  }

  onReset(): void {
    this.registry.remove(this, 'reset');
  }

  /** Management removed this observer's subscription: forget it and tell the client (4.03). */
  revoked(filter: string): void {
    if (filter === this.filter) this.registry.revoke(this);
  }

  private notify(message: Message): void {
    const deps = this.deps;
    const peer = this.peer;
    const now = Date.now();
    const sequence = this.nextSequence();
    const contentFormat = contentFormatOf(message.properties?.contentType);
    const blockSize = blockSizeOf(this.szx);
    let payload = message.payload;
    let options: OutgoingOption[];
    if (payload.length <= blockSize) {
      options = [
        { number: OptionNumber.Observe, value: sequence },
        { number: OptionNumber.ContentFormat, value: contentFormat },
      ];
    } else {
      // The first block goes out now; the client GETs the others from the kept body (RFC 7959 §3.4).
      message.ownPayload();
      payload = message.payload;
      const etag = nextEtag();
      deps.bodies.set(bodyKey(peer, this.filter), { payload, contentFormat, etag }, now);
      options = [
        { number: OptionNumber.ETag, value: etag },
        { number: OptionNumber.Observe, value: sequence },
        { number: OptionNumber.ContentFormat, value: contentFormat },
        { number: OptionNumber.Block2, value: encodeBlock(0, true, this.szx) },
        { number: OptionNumber.Size2, value: payload.length },
      ];
      payload = payload.subarray(0, blockSize);
    }
    this.sinceConfirmable++;
    const due =
      this.sinceConfirmable >= deps.settings.observeConEvery ||
      now - this.lastConfirmableAt >= deps.settings.observeConIntervalMs;
    const messageId = peer.nextMessageId();
    deps.counters.notifications++;
    if (due && !this.confirmableInFlight) {
      this.sinceConfirmable = 0;
      this.lastConfirmableAt = now;
      this.confirmableInFlight = true;
      deps.counters.confirmableNotifications++;
      const bytes = encodeMessage(MessageType.CON, Code.Content, messageId, this.token, options, payload);
      deps.layer.sendConfirmable(peer, messageId, bytes, this.callbacks);
      return;
    }
    const bytes = encodeMessage(MessageType.NON, Code.Content, messageId, this.token, options, payload);
    peer.recent?.add(messageId, this);
    deps.layer.send(peer, bytes);
  }
}

export class ObserverRegistry {
  private readonly observers = new Map<string, CoapObserver>();

  constructor(private readonly deps: ObserveDependencies) {}

  get size(): number {
    return this.observers.size;
  }

  /**
   * Adds an observer (or updates the one with this peer and token, RFC 7641 §4.1) and subscribes it.
   * Returns null when `maxObservers` or `maxObserversPerPeer` refuses it: the caller then answers a
   * plain GET, as RFC 7641 §4.1 prescribes. `retained` are the messages to notify at once.
   */
  register(
    peer: Peer,
    token: Buffer,
    filter: string,
    szx: number,
    client: ClientInfo,
    validUntil: number | undefined,
  ): { observer: CoapObserver; retained: Message[] } | null {
    const { core, settings, counters } = this.deps;
    const key = `${peer.key}#${token.toString('hex')}`;
    let observer = this.observers.get(key);
    if (observer !== undefined) {
      if (observer.filter !== filter) core.unsubscribe(observer, observer.filter, observer.client);
      observer.filter = filter;
      observer.szx = szx;
      observer.client = client;
    } else {
      if (this.observers.size >= settings.maxObservers || peer.observers >= settings.maxObserversPerPeer) {
        counters.observersRefused++;
        return null;
      }
      observer = new CoapObserver(this, this.deps, key, peer, Buffer.from(token), filter, szx, client);
      this.observers.set(key, observer);
      peer.observers++;
      peer.recent ??= new RecentMessages();
    }
    observer.validUntil = validUntil;
    const { retained } = core.subscribe(observer, filter, { qos: 0 }, client);
    return { observer, retained };
  }

  /**
   * GET with Observe 1: removes the observer with this peer and token or, failing that, this peer's
   * observers of the same path (a client that deregisters with a new token).
   */
  deregister(peer: Peer, token: Buffer, filter: string): void {
    const observer = this.observers.get(`${peer.key}#${token.toString('hex')}`);
    if (observer !== undefined) {
      this.remove(observer, 'deregistered');
      return;
    }
    if (peer.observers === 0) return;
    for (const o of [...this.observers.values()]) {
      if (o.peer === peer && o.filter === filter) this.remove(o, 'deregistered');
    }
  }

  remove(observer: CoapObserver, reason: string): void {
    if (!observer.active) return;
    observer.active = false;
    this.observers.delete(observer.key);
    observer.peer.observers--;
    observer.peer.recent?.forget(observer);
    this.deps.core.unsubscribe(observer, observer.filter, observer.client);
    this.deps.counters.observersRemoved++;
    this.deps.logger.debug(
      { observer: observer.id, filter: observer.filter, reason },
      'CoAP observer removed',
    );
  }

  /** The observer's subscription was revoked by management: it goes, with a final 4.03. */
  revoke(observer: CoapObserver): void {
    if (!observer.active) return;
    this.remove(observer, 'subscription revoked');
    this.farewell(observer, Code.Forbidden, 'subscription revoked');
  }

  /** Removes the observers whose client matches (management action); each gets a final 4.03. */
  disconnect(match: (client: ClientInfo) => boolean, reason: string): number {
    let n = 0;
    for (const observer of [...this.observers.values()]) {
      if (!match(observer.client)) continue;
      this.remove(observer, reason);
      this.farewell(observer, Code.Forbidden, reason);
      n++;
    }
    return n;
  }

  /** Removes the observers whose credential has expired; each gets a final 4.01. */
  expire(now: number): void {
    for (const observer of this.observers.values()) {
      if (observer.validUntil === undefined || observer.validUntil > now) continue;
      this.remove(observer, 'credential expired');
      this.farewell(observer, Code.Unauthorized, 'credential expired');
    }
  }

  /** A final NON response without Observe: it ends the observation at the client (RFC 7641 §3.2). */
  private farewell(observer: CoapObserver, responseCode: number, diagnostic: string): void {
    const bytes = encodeMessage(
      MessageType.NON,
      responseCode,
      observer.peer.nextMessageId(),
      observer.token,
      null,
      Buffer.from(diagnostic),
    );
    this.deps.layer.send(observer.peer, bytes);
  }

  /**
   * Shutdown: unsubscribes every observer and tells each with a final 5.03 (no Observe option, which
   * ends the observation at the client, RFC 7641 §3.2). Resolves once the socket has taken them.
   */
  closeAll(): Promise<void> {
    const sent: Promise<void>[] = [];
    for (const observer of [...this.observers.values()]) {
      this.remove(observer, 'server shutting down');
      const bytes = encodeMessage(
        MessageType.NON,
        Code.ServiceUnavailable,
        observer.peer.nextMessageId(),
        observer.token,
        null,
        Buffer.from('server shutting down'),
      );
      sent.push(this.deps.layer.sendFinal(observer.peer, bytes));
    }
    return Promise.all(sent).then(() => undefined);
  }
}
