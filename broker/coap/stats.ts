/** Counters of the CoAP front-end, for metrics and tests (live sizes are added by `CoapFrontEnd.stats`). */
export class CoapCounters {
  /** Datagrams received. */
  datagrams = 0;
  /** Datagrams that were not well-formed CoAP (RFC 7252 message format errors). */
  malformed = 0;
  /** Resets we sent (to malformed CONs, CON pings, unexpected CON responses). */
  resetsSent = 0;
  /** Requests answered from the duplicate-detection record instead of being processed again. */
  duplicates = 0;
  /** Requests over a peer's rate limit (CON answered 4.29, NON dropped). */
  rateLimited = 0;
  /** Messages published into the broker. */
  published = 0;
  /** Requests answered with a 4.xx or 5.xx code. */
  refused = 0;
  /** Notifications sent (confirmable ones included). */
  notifications = 0;
  confirmableNotifications = 0;
  /** Observers removed because they sent RST, deregistered, or stopped acknowledging. */
  observersRemoved = 0;
  /** Registrations served as a plain GET because an observer limit was reached. */
  observersRefused = 0;
  /**
   * Datagrams the socket refused at once (closed socket, bad address). Asynchronous send failures are
   * not reported by Node for sends without a callback, which the hot path avoids (a tick per datagram).
   */
  sendErrors = 0;
}

export interface CoapStats {
  datagrams: number;
  malformed: number;
  resetsSent: number;
  duplicates: number;
  rateLimited: number;
  published: number;
  refused: number;
  notifications: number;
  confirmableNotifications: number;
  observersRemoved: number;
  observersRefused: number;
  sendErrors: number;
  /** CON retransmissions, and CONs given up after MAX_RETRANSMIT. */
  retransmissions: number;
  giveUps: number;
  /** Duplicate-detection records forgotten early because `maxExchanges` was reached. */
  exchangesEvicted: number;
  observers: number;
  peers: number;
  exchanges: number;
  awaitingAck: number;
  block1Transfers: number;
  block2Bodies: number;
}
