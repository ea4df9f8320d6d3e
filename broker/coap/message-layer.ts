/**
 * The CoAP message layer (RFC 7252 §4): CON/NON/ACK/RST, duplicate detection, the per-peer rate
 * limit, piggybacked and separate responses, and the sending of our own CON and NON messages. It hands
 * each new request to a `RequestHandler` as an `Exchange`, which the handler answers once, now or later.
 */
import type { Logger } from '../core/logger.js';
import {
  type CoapMessage,
  encodeEmpty,
  encodeMessage,
  type FormatError,
  type OutgoingOption,
  parseMessage,
  peekHeader,
} from './codec.js';
import { Code, isRequestCode, MessageType, OptionNumber } from './codes.js';
import { DuplicateDetector, type ExchangeRecord, ExchangeState } from './dedup.js';
import type { Peer, PeerTable } from './peers.js';
import type { RateLimiter } from './rate-limit.js';
import { type ConfirmableCallbacks, Retransmitter } from './retransmit.js';
import type { CoapSettings } from './settings.js';
import type { CoapCounters } from './stats.js';

export interface CoapResponse {
  code: number;
  options?: OutgoingOption[];
  payload?: Buffer | null;
}

export interface RequestHandler {
  /** Must answer `exchange.respond(...)` exactly once, synchronously or later. May throw (→ 5.00). */
  handleRequest(exchange: Exchange): void;
}

/** Where datagrams go out; the UDP listener provides it. */
export interface DatagramSender {
  send(bytes: Buffer, port: number, address: string, done?: (error: Error | null) => void): void;
}

/** One request being answered. */
export class Exchange {
  /** True once a response (or a deliberate silence) has been decided. */
  responded = false;
  /** An empty ACK has been sent: the response must go as a separate CON. */
  private acknowledged = false;
  private separateTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly layer: MessageLayer,
    readonly peer: Peer,
    readonly request: CoapMessage,
    private readonly record: ExchangeRecord,
  ) {}

  get confirmable(): boolean {
    return this.request.type === MessageType.CON;
  }

  /** Sends the response: piggybacked on the ACK when possible, otherwise as a separate message. */
  respond(response: CoapResponse): void {
    if (this.responded) return;
    this.responded = true;
    this.layer.finish(this);
    if (this.separateTimer !== null) clearTimeout(this.separateTimer);
    this.separateTimer = null;
    const layer = this.layer;
    if (layer.closed) return;
    if (response.code >= Code.BadRequest) layer.counters.refused++;
    const request = this.request;
    const record = this.record;
    if (suppressedByNoResponse(request, response.code)) {
      // RFC 7967: no response, but a CON still needs its ACK (and a duplicate gets it again).
      if (this.confirmable && !this.acknowledged) {
        layer.send(this.peer, encodeEmpty(MessageType.ACK, request.messageId));
        record.state = ExchangeState.Acknowledged;
      } else {
        record.state = ExchangeState.Answered;
      }
      return;
    }
    const payload = response.payload ?? null;
    const options = response.options ?? null;
    if (this.confirmable && !this.acknowledged) {
      const bytes = encodeMessage(
        MessageType.ACK,
        response.code,
        request.messageId,
        request.token,
        options,
        payload,
      );
      if (options === null && payload === null) record.responseCode = response.code;
      else record.response = bytes;
      record.state = ExchangeState.Answered;
      layer.send(this.peer, bytes);
      return;
    }
    const messageId = this.peer.nextMessageId();
    if (this.confirmable) {
      // Separate response (RFC 7252 §5.2.2): a CON of its own, retransmitted until the client ACKs it.
      const bytes = encodeMessage(MessageType.CON, response.code, messageId, request.token, options, payload);
      layer.sendConfirmable(this.peer, messageId, bytes, {});
      return;
    }
    record.state = ExchangeState.Answered;
    layer.send(
      this.peer,
      encodeMessage(MessageType.NON, response.code, messageId, request.token, options, payload),
    );
  }

  /**
   * Rejects the request with an RST and no response, as RFC 7252 §5.4.1 wants for a NON request with
   * an unrecognized critical option.
   */
  reject(): void {
    if (this.responded) return;
    this.responded = true;
    this.layer.finish(this);
    this.record.state = ExchangeState.Answered;
    this.layer.counters.resetsSent++;
    this.layer.send(this.peer, encodeEmpty(MessageType.RST, this.request.messageId));
  }

  /** The handler did not answer at once: a CON gets an empty ACK if the answer takes too long. */
  deferIfConfirmable(afterMs: number): void {
    if (this.responded || !this.confirmable) return;
    this.separateTimer = setTimeout(() => {
      this.separateTimer = null;
      if (this.responded || this.layer.closed) return;
      this.acknowledged = true;
      this.record.state = ExchangeState.Acknowledged;
      this.layer.send(this.peer, encodeEmpty(MessageType.ACK, this.request.messageId));
    }, afterMs);
    this.separateTimer.unref();
  }

  /** Server shutdown: forget the pending answer. */
  abandon(): void {
    this.responded = true;
    if (this.separateTimer !== null) clearTimeout(this.separateTimer);
    this.separateTimer = null;
  }
}

/** RFC 7967 No-Response: bit 2 suppresses 2.xx, bit 8 4.xx, bit 16 5.xx. */
function suppressedByNoResponse(request: CoapMessage, responseCode: number): boolean {
  const value = request.uintOption(OptionNumber.NoResponse, 1);
  if (value === undefined || value <= 0) return false;
  const cls = responseCode >> 5;
  return (value & (cls === 2 ? 2 : cls === 4 ? 8 : cls === 5 ? 16 : 0)) !== 0;
}

export class MessageLayer {
  closed = false;
  readonly dedup: DuplicateDetector;
  readonly retransmitter: Retransmitter;
  handler: RequestHandler | null = null;
  /** Exchanges whose answer is still to come (asynchronous authorization). */
  private readonly pending = new Set<Exchange>();

  constructor(
    private readonly settings: CoapSettings,
    readonly peers: PeerTable,
    private readonly rateLimiter: RateLimiter,
    private readonly sender: DatagramSender,
    readonly counters: CoapCounters,
    private readonly logger: Logger,
  ) {
    this.dedup = new DuplicateDetector(settings.maxExchanges);
    this.retransmitter = new Retransmitter(settings, (peer, bytes) => this.send(peer, bytes));
  }

  /** One datagram from the socket. Never throws. */
  receive(datagram: Buffer, address: string, port: number): void {
    if (this.closed) return;
    this.counters.datagrams++;
    const now = Date.now();
    const peer = this.peers.get(address, port, now);
    const message = parseMessage(datagram);
    if (typeof message === 'string') {
      this.malformed(peer, datagram, message, now);
      return;
    }
    const type = message.type;
    if (type === MessageType.ACK) {
      // Any ACK (empty, or a piggybacked answer a confused client sent) ends our retransmission.
      this.retransmitter.acknowledge(peer, message.messageId);
      return;
    }
    if (type === MessageType.RST) {
      if (!this.retransmitter.reset(peer, message.messageId)) {
        peer.recent?.find(message.messageId)?.onReset();
      }
      return;
    }
    if (message.code === Code.Empty || !isRequestCode(message.code)) {
      // A CON ping, or a response we never asked for: RST for a CON (RFC 7252 §4.2-4.3), silence for a NON.
      if (type === MessageType.CON) this.reset(peer, message.messageId);
      return;
    }
    this.request(peer, message, now);
  }

  private request(peer: Peer, message: CoapMessage, now: number): void {
    const confirmable = message.type === MessageType.CON;
    if (!this.rateLimiter.take(peer, now)) {
      this.counters.rateLimited++;
      if (confirmable) {
        // RFC 8516: 4.29 with Max-Age saying when to retry. Not recorded: a resend is judged afresh.
        const maxAge = this.rateLimiter.retryAfterSeconds(peer);
        this.send(
          peer,
          encodeMessage(
            MessageType.ACK,
            Code.TooManyRequests,
            message.messageId,
            message.token,
            [{ number: OptionNumber.MaxAge, value: maxAge }],
            null,
          ),
        );
      }
      return;
    }
    const key = `${peer.key}#${message.messageId}`;
    const seen = this.dedup.find(key, now);
    if (seen !== undefined) {
      this.counters.duplicates++;
      if (!confirmable) return;
      if (seen.response !== null) this.send(peer, seen.response);
      else if (seen.responseCode !== 0) {
        this.send(
          peer,
          encodeMessage(MessageType.ACK, seen.responseCode, message.messageId, message.token, null, null),
        );
      } else if (seen.state === ExchangeState.Acknowledged) {
        this.send(peer, encodeEmpty(MessageType.ACK, message.messageId));
      }
      return;
    }
    const lifetime = confirmable ? this.settings.exchangeLifetimeMs : this.settings.nonLifetimeMs;
    const record = this.dedup.remember(key, now + lifetime, ExchangeState.Processing);
    const exchange = new Exchange(this, peer, message, record);
    try {
      this.handler!.handleRequest(exchange);
    } catch (err) {
      this.logger.error({ err, peer: peer.key }, 'CoAP request handler failed');
      exchange.respond({ code: Code.InternalServerError });
      return;
    }
    if (!exchange.responded) {
      this.pending.add(exchange);
      exchange.deferIfConfirmable(this.settings.separateResponseAfterMs);
    }
  }

  /** Called by an exchange once it is answered. */
  finish(exchange: Exchange): void {
    this.pending.delete(exchange);
  }

  private malformed(peer: Peer, datagram: Buffer, error: FormatError, now: number): void {
    this.counters.malformed++;
    this.logger.debug({ peer: peer.key, error, bytes: datagram.length }, 'malformed CoAP datagram');
    // RFC 7252 §4.2: a CON with a format error is rejected with RST; anything else is ignored silently.
    const header = error === 'unknown-version' ? null : peekHeader(datagram);
    if (header?.type === MessageType.CON && this.rateLimiter.take(peer, now)) {
      this.reset(peer, header.messageId);
    }
  }

  private reset(peer: Peer, messageId: number): void {
    this.counters.resetsSent++;
    this.send(peer, encodeEmpty(MessageType.RST, messageId));
  }

  /** Sends one datagram; a failure is counted, never thrown. */
  send(peer: Peer, bytes: Buffer): void {
    if (this.closed) return;
    try {
      this.sender.send(bytes, peer.port, peer.address);
    } catch (err) {
      this.counters.sendErrors++;
      this.logger.debug({ err, peer: peer.key }, 'CoAP send failed');
    }
  }

  /** Sends one of our CON messages and retransmits it until it is acknowledged. */
  sendConfirmable(peer: Peer, messageId: number, bytes: Buffer, callbacks: ConfirmableCallbacks): void {
    if (this.closed) return;
    this.retransmitter.start(peer, messageId, bytes, callbacks);
  }

  /** Sends a final datagram during shutdown and resolves once the socket has taken it. */
  sendFinal(peer: Peer, bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.sender.send(bytes, peer.port, peer.address, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** Stops everything in flight; after this the layer drops whatever it is given. */
  close(): void {
    this.closed = true;
    for (const exchange of this.pending) exchange.abandon();
    this.pending.clear();
    this.retransmitter.cancelAll(this.peers.values());
    this.dedup.clear();
  }
}
