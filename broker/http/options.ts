/**
 * Options of the HTTP / WebSocket front-end; each is documented in broker/http/README.md. Payload
 * checks (strict SenML channels) are the broker's `payloadValidator`, shared by every protocol.
 */

export interface HttpOptions {
  /** Port of the HTTP/WebSocket listener; 0 picks a free one. Default 8080. */
  port?: number;
  /** Bind address; defaults to the broker's `host`. */
  host?: string;
  /** Largest HTTP request body and plain WebSocket message, in bytes. Default 256 KiB. */
  maxBodyBytes?: number;
  /**
   * Bytes a plain WebSocket or SSE subscriber may have queued before further QoS 0 messages to it
   * are dropped (and counted). Default: the broker's `maxOutboundBytes` (1 MiB).
   */
  maxSubscriberBufferBytes?: number;
  /**
   * Seconds without traffic after which uWS pings a WebSocket, closing it if still silent:
   * 0 (never) or 8...960 (uWS aborts the process on other values, so they are refused here). Default 120.
   */
  wsIdleTimeoutSeconds?: number;
  /** Interval of the SSE keep-alive comment, ms (0 disables). Default 15000. */
  sseHeartbeatMs?: number;
  /** Time `close()` lets connections finish before it closes them by force, ms. Default 2000. */
  shutdownGraceMs?: number;
  /** Most cached authentication results (keyed by the credential presented). Default 10000. */
  maxCachedCredentials?: number;
}

export type ResolvedHttpOptions = Required<HttpOptions>;

export function resolveHttpOptions(
  options: HttpOptions,
  defaults: { host: string; maxOutboundBytes: number },
): ResolvedHttpOptions {
  const resolved: ResolvedHttpOptions = {
    port: options.port ?? 8080,
    host: options.host ?? defaults.host,
    maxBodyBytes: options.maxBodyBytes ?? 256 * 1024,
    maxSubscriberBufferBytes: options.maxSubscriberBufferBytes ?? defaults.maxOutboundBytes,
    wsIdleTimeoutSeconds: options.wsIdleTimeoutSeconds ?? 120,
    sseHeartbeatMs: options.sseHeartbeatMs ?? 15_000,
    shutdownGraceMs: options.shutdownGraceMs ?? 2000,
    maxCachedCredentials: options.maxCachedCredentials ?? 10_000,
  };
  const idle = resolved.wsIdleTimeoutSeconds;
  if (!Number.isInteger(idle) || (idle !== 0 && (idle < 8 || idle > 960))) {
    throw new RangeError(`http.wsIdleTimeoutSeconds must be 0 or an integer in 8...960 (got ${idle})`);
  }
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65_535) {
    throw new RangeError(`http.port must be an integer in 0...65535 (got ${resolved.port})`);
  }
  // uWS takes 32-bit lengths; far above any sane body anyway.
  if (!(resolved.maxBodyBytes > 0 && resolved.maxBodyBytes <= 2 ** 30)) {
    throw new RangeError(`http.maxBodyBytes must be in 1...2^30 (got ${resolved.maxBodyBytes})`);
  }
  return resolved;
}
