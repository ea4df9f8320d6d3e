/**
 * Every tunable of the CoAP front-end, with its default. Transmission parameters follow RFC 7252 §4.8;
 * the limits bound the memory a peer (or a flood of spoofed peers) can make the server hold.
 */
import type { CoapRoute } from './extra-routes.js';

export interface CoapSettings {
  /** RFC 7252 ACK_TIMEOUT: first retransmission of a CON after this (times a random factor). */
  ackTimeoutMs: number;
  /** RFC 7252 ACK_RANDOM_FACTOR (≥ 1): the first timeout is drawn from [ackTimeout, ackTimeout × factor]. */
  ackRandomFactor: number;
  /** RFC 7252 MAX_RETRANSMIT: retransmissions of a CON before the peer counts as gone. */
  maxRetransmit: number;
  /** RFC 7252 EXCHANGE_LIFETIME: how long a CON's message id is remembered for duplicate detection. */
  exchangeLifetimeMs: number;
  /** RFC 7252 NON_LIFETIME: the same for NON messages. */
  nonLifetimeMs: number;
  /** Most (peer, message id) pairs remembered for duplicate detection; the oldest are forgotten first. */
  maxExchanges: number;
  /**
   * A CON request whose answer is not ready after this (an asynchronous authorizer) gets an empty ACK,
   * and its response follows as a separate CON. Keep it below ackTimeoutMs so clients do not resend.
   */
  separateResponseAfterMs: number;
  /** Largest block (Block1 and Block2), a power of two from 16 to 1024. */
  blockSize: number;
  /** Largest payload of one publish (a single datagram or a reassembled Block1 upload): 4.13 beyond. */
  maxPayloadBytes: number;
  /** Most Block1 uploads being reassembled, and (separately) most Block2 bodies kept for follow-up reads. */
  maxBlockTransfers: number;
  /** An unfinished Block1 upload, or a Block2 body nobody reads, is forgotten after this. */
  blockTransferTimeoutMs: number;
  /** Most observers (Observe registrations) at once; beyond it a registration is served as a plain GET. */
  maxObservers: number;
  /** Most observers one peer (address and port) may hold. */
  maxObserversPerPeer: number;
  /** Every n-th notification to an observer is confirmable, so that dead observers are noticed. */
  observeConEvery: number;
  /** A notification is also confirmable when the last confirmable one to that observer is this old. */
  observeConIntervalMs: number;
  /**
   * Requests per second one peer may send (token bucket refill rate); 0 disables the limit. Over it a
   * CON request is answered 4.29 Too Many Requests (with Max-Age) and a NON request is dropped.
   */
  maxRequestsPerSecondPerPeer: number;
  /** Token bucket size: how many requests a peer may send in a burst. */
  requestBurstPerPeer: number;
  /** Most peers whose state (rate bucket, message ids) is kept; idle ones are forgotten first. */
  maxPeers: number;
  /** How often expired exchanges, transfers and idle peers are swept. */
  sweepIntervalMs: number;
  /**
   * The socket's receive buffer (SO_RCVBUF), in bytes; 0 keeps the system default. UDP has no flow
   * control: a burst larger than this buffer is dropped by the kernel before the server sees it. Linux
   * caps it at net.core.rmem_max.
   */
  receiveBufferBytes: number;
}

export const DEFAULT_COAP_SETTINGS: Readonly<CoapSettings> = Object.freeze({
  ackTimeoutMs: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  exchangeLifetimeMs: 247_000,
  nonLifetimeMs: 145_000,
  maxExchanges: 100_000,
  separateResponseAfterMs: 1000,
  blockSize: 1024,
  maxPayloadBytes: 65_536,
  maxBlockTransfers: 256,
  blockTransferTimeoutMs: 60_000,
  maxObservers: 10_000,
  maxObserversPerPeer: 64,
  observeConEvery: 20,
  observeConIntervalMs: 30_000,
  maxRequestsPerSecondPerPeer: 1000,
  requestBurstPerPeer: 2000,
  maxPeers: 100_000,
  sweepIntervalMs: 1000,
  receiveBufferBytes: 1024 * 1024,
});

/** The `coap` option of `createBroker`: where to listen, plus any setting above. */
export interface CoapOptions extends Partial<CoapSettings> {
  /** UDP port, 5683 by default; 0 picks a free port. */
  port?: number;
  /** '::' binds IPv4 and IPv6 (dual stack); an IPv4 address binds udp4, an IPv6 address udp6. */
  host?: string;
  /** Extra POST resources answered before `/channels/...` routing (see extra-routes.ts). */
  routes?: readonly CoapRoute[];
}

/** Merges options over the defaults and refuses values that would break the protocol. */
export function resolveSettings(options: Partial<CoapSettings>): CoapSettings {
  const settings: CoapSettings = { ...DEFAULT_COAP_SETTINGS };
  for (const key of Object.keys(DEFAULT_COAP_SETTINGS) as (keyof CoapSettings)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`coap.${key} must be a finite number ≥ 0, got ${String(value)}`);
    }
    settings[key] = value;
  }
  const b = settings.blockSize;
  if (b < 16 || b > 1024 || (b & (b - 1)) !== 0) {
    throw new RangeError(`coap.blockSize must be a power of two from 16 to 1024, got ${b}`);
  }
  if (settings.ackRandomFactor < 1) throw new RangeError('coap.ackRandomFactor must be ≥ 1');
  if (settings.observeConEvery < 1) throw new RangeError('coap.observeConEvery must be ≥ 1');
  return settings;
}
