/** What the HTTP front-end's handlers share: the broker core, options, authentication and counters. */
import type { BrokerCore } from '../core/broker-core.js';
import type { HttpAuthenticator } from './auth.js';
import type { ResolvedHttpOptions } from './options.js';

export interface HttpStats {
  /** HTTP publish requests received. */
  publishRequests: number;
  /** Messages published through HTTP and plain WebSocket frames. */
  published: number;
  /** Requests and upgrades answered with an error status. */
  refused: number;
  /** Requests the client abandoned before the answer (connection closed mid-body, mid-authorization). */
  aborted: number;
  /** QoS 0 deliveries dropped because a plain WebSocket subscriber was too slow. */
  droppedWs: number;
  /** Deliveries dropped because an SSE subscriber was too slow. */
  droppedSse: number;
  /** MQTT-over-WebSocket connections closed because their output passed the hard bound. */
  mqttWsOverflows: number;
  /** Plain WebSockets closed for exceeding the frames held while a publish decision was pending. */
  wsOverflows: number;
}

export interface HttpContext {
  readonly core: BrokerCore;
  readonly options: ResolvedHttpOptions;
  readonly auth: HttpAuthenticator;
  readonly stats: HttpStats;
  /** True once `close()` began: new requests and upgrades get 503. */
  readonly draining: boolean;
  /** A request is being answered asynchronously (shutdown waits for it). */
  requestStarted(): void;
  requestEnded(): void;
}

/** Calls `fn` with the value now if it is not a Promise, keeping synchronous paths synchronous. */
export function andThen<T, R>(value: T | Promise<T>, fn: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** The value of one query parameter (decoded), or '' when absent or malformed. */
export function queryParam(query: string | undefined, name: string): string {
  // uWS's getQuery() returns undefined, not '', when the URL has no query.
  if (!query) return '';
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key !== name) continue;
    try {
      return decodeURIComponent((eq < 0 ? '' : part.slice(eq + 1)).replace(/\+/g, ' '));
    } catch {
      return '';
    }
  }
  return '';
}
