/**
 * The CoAP front-end: wires the message layer, credentials, Observe and block-wise stores to the broker
 * core, and routes each request by path and method. It knows no socket: datagrams come in through
 * `receive` and go out through the `DatagramSender` it is given (the UDP listener).
 */
import type { BrokerCore, FrontEndControl } from '../core/broker-core.js';
import { szxOf } from './block-option.js';
import { Block1Reassembly } from './block1-reassembly.js';
import { Block2Bodies } from './block2.js';
import { Code, isCritical, KNOWN_CRITICAL_OPTIONS, MessageType, OptionNumber } from './codes.js';
import type { CoapContext } from './context.js';
import { CredentialCache } from './credentials.js';
import { type CoapRoute, matchRoute, runRoute } from './extra-routes.js';
import { handleGet } from './handle-get.js';
import { handlePost } from './handle-post.js';
import { type DatagramSender, type Exchange, MessageLayer, type RequestHandler } from './message-layer.js';
import { ObserverRegistry } from './observe.js';
import { PeerTable } from './peers.js';
import { RateLimiter } from './rate-limit.js';
import { refuse } from './request-auth.js';
import { parseTarget } from './request-target.js';
import type { CoapSettings } from './settings.js';
import { CoapCounters, type CoapStats } from './stats.js';

export class CoapFrontEnd implements RequestHandler {
  readonly counters = new CoapCounters();
  readonly layer: MessageLayer;
  readonly peers: PeerTable;
  readonly observers: ObserverRegistry;
  private readonly ctx: CoapContext;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Lets management (`Broker.disconnectClients`) end observations. */
  private readonly control: FrontEndControl = {
    disconnect: (match, reason) => this.observers.disconnect(match, reason),
  };
  private closing: Promise<void> | null = null;
  /** Extra POST resources registered by layers above the broker (`route()`). */
  private readonly extraRoutes: CoapRoute[] = [];

  constructor(
    readonly core: BrokerCore,
    readonly settings: CoapSettings,
    sender: DatagramSender,
  ) {
    const logger = core.logger;
    const rateLimiter = new RateLimiter(settings.maxRequestsPerSecondPerPeer, settings.requestBurstPerPeer);
    this.peers = new PeerTable(settings.maxPeers, settings.exchangeLifetimeMs, rateLimiter);
    this.layer = new MessageLayer(settings, this.peers, rateLimiter, sender, this.counters, logger);
    this.layer.handler = this;
    const blockSzx = szxOf(settings.blockSize);
    const bodies = new Block2Bodies(settings.maxBlockTransfers, settings.blockTransferTimeoutMs);
    this.observers = new ObserverRegistry({
      core,
      layer: this.layer,
      settings,
      counters: this.counters,
      bodies,
      logger,
    });
    this.ctx = {
      core,
      settings,
      blockSzx,
      counters: this.counters,
      layer: this.layer,
      credentials: new CredentialCache(core),
      observers: this.observers,
      uploads: new Block1Reassembly(
        settings.maxBlockTransfers,
        settings.maxPayloadBytes,
        settings.blockTransferTimeoutMs,
        blockSzx,
      ),
      bodies,
      logger,
    };
    core.frontEnds.add(this.control);
  }

  /** Adds an extra POST resource under a Uri-Path prefix, answered before `/channels/...` routing. */
  route(route: CoapRoute): this {
    this.extraRoutes.push(route);
    return this;
  }

  /** Starts the housekeeping timer (expired exchanges, transfers, idle peers). */
  start(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), this.settings.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  /** One datagram from the socket. */
  receive(datagram: Buffer, address: string, port: number): void {
    this.layer.receive(datagram, address, port);
  }

  handleRequest(exchange: Exchange): void {
    const request = exchange.request;
    for (const option of request.options) {
      if (isCritical(option.number) && !KNOWN_CRITICAL_OPTIONS.has(option.number)) {
        if (request.type === MessageType.NON) exchange.reject();
        else refuse(exchange, Code.BadOption, `unrecognized critical option ${option.number}`);
        return;
      }
    }
    if (
      request.option(OptionNumber.ProxyUri) !== undefined ||
      request.option(OptionNumber.ProxyScheme) !== undefined
    ) {
      refuse(exchange, Code.ProxyingNotSupported, 'not a proxy');
      return;
    }
    if (this.extraRoutes.length > 0) {
      const extra = matchRoute(this.extraRoutes, request.optionValues(OptionNumber.UriPath));
      if (extra !== null) {
        runRoute(extra, exchange, this.core.logger);
        return;
      }
    }
    const target = parseTarget(request, this.core.limits);
    if (target.kind === 'not-found') {
      refuse(exchange, Code.NotFound, 'try /channels/<id>/messages[/<subtopic>]');
      return;
    }
    if (target.kind === 'bad-request') {
      refuse(exchange, Code.BadRequest, target.reason);
      return;
    }
    if (request.code === Code.POST) {
      if (target.wildcard) refuse(exchange, Code.BadRequest, 'wildcards are not allowed in a publish');
      else handlePost(this.ctx, exchange, target.topic);
    } else if (request.code === Code.GET) {
      handleGet(this.ctx, exchange, target.topic, target.wildcard);
    } else {
      refuse(exchange, Code.MethodNotAllowed, 'POST publishes, GET (with Observe) subscribes');
    }
  }

  stats(): CoapStats {
    const c = this.counters;
    const r = this.layer.retransmitter;
    return {
      datagrams: c.datagrams,
      malformed: c.malformed,
      resetsSent: c.resetsSent,
      duplicates: c.duplicates,
      rateLimited: c.rateLimited,
      published: c.published,
      refused: c.refused,
      notifications: c.notifications,
      confirmableNotifications: c.confirmableNotifications,
      observersRemoved: c.observersRemoved,
      observersRefused: c.observersRefused,
      sendErrors: c.sendErrors,
      retransmissions: r.retransmissions,
      giveUps: r.giveUps,
      exchangesEvicted: this.layer.dedup.evicted,
      observers: this.observers.size,
      peers: this.peers.size,
      exchanges: this.layer.dedup.size,
      awaitingAck: r.size,
      block1Transfers: this.ctx.uploads.size,
      block2Bodies: this.ctx.bodies.size,
    };
  }

  /**
   * Stops the front-end: observers are unsubscribed and sent a final 5.03, timers and retransmissions
   * stop, state is dropped. Resolves once the final notifications are on the wire.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
      this.sweepTimer = null;
      const farewells = this.observers.closeAll();
      this.layer.close();
      this.ctx.credentials.dispose();
      this.core.frontEnds.delete(this.control);
      this.ctx.uploads.clear();
      this.ctx.bodies.clear();
      await farewells;
      this.peers.clear();
    })();
    return this.closing;
  }

  private sweep(now: number): void {
    this.layer.dedup.sweep(now);
    this.ctx.uploads.sweep(now);
    this.ctx.bodies.sweep(now);
    this.peers.sweep(now);
    this.observers.expire(now);
  }
}
