/**
 * The broker's only question to the outside world: may this client connect, publish, subscribe?
 *
 * The broker core knows no users, channels or SQL; the platform (auth/) plugs in its policy engine,
 * an embedding application plugs in its own, or nothing (allow all). Every method may answer
 * synchronously (the hot path stays synchronous when a decision is cached) or with a Promise.
 */

export type Protocol = 'mqtt' | 'mqtt-ws' | 'http' | 'ws' | 'sse' | 'coap' | 'internal';

/** A client certificate presented over TLS, reduced to what identity mapping needs. */
export interface PeerCertificateInfo {
  subjectCN?: string;
  subject?: Record<string, string | string[]>;
  fingerprint256?: string;
  serialNumber?: string;
}

export interface ConnectRequest {
  clientId: string;
  username?: string;
  /** The secret presented: MQTT password, HTTP/WebSocket credential, CoAP `auth` query. */
  password?: Buffer;
  /**
   * How the secret was presented, where the protocol says: MQTT username/password (absent),
   * HTTP `Authorization: Thing <secret>` ('thing'), `Bearer <token>` ('bearer'), Basic ('basic'),
   * or a query parameter such as CoAP `?auth=` ('query').
   */
  scheme?: 'thing' | 'bearer' | 'basic' | 'query';
  protocol: Protocol;
  remoteAddress?: string;
  certificate?: PeerCertificateInfo;
}

export type AuthenticationResult =
  | {
      ok: true;
      principal?: unknown;
      /**
       * When the credential stops being valid (ms since epoch), e.g. a JWT's `exp`: the connection is
       * closed then (MQTT 5 reason 0xA0 maximum connect time).
       */
      expiresAt?: number;
    }
  | { ok: false; reason: 'bad-credentials' | 'not-authorized' | 'unavailable' };

/** What the authorizer is told about a client when it decides publish and subscribe. */
export interface ClientInfo {
  readonly id: string;
  readonly protocol: Protocol;
  readonly username?: string;
  /** Whatever `authenticate` returned as principal (a thing, a user, a token's claims...). */
  readonly principal?: unknown;
  readonly remoteAddress?: string;
}

export interface Authorizer {
  authenticate(request: ConnectRequest): AuthenticationResult | Promise<AuthenticationResult>;
  authorizePublish(client: ClientInfo, topic: string): boolean | Promise<boolean>;
  authorizeSubscribe(client: ClientInfo, filter: string): boolean | Promise<boolean>;
}

/** The default for an embedded broker and `npm start` before the platform is configured: everyone may do everything. */
export const allowAll: Authorizer = Object.freeze({
  authenticate: () => ({ ok: true }) as const,
  authorizePublish: () => true,
  authorizeSubscribe: () => true,
});
