/**
 * Authentication and authorization of CoAP requests. CoAP has no connection, so every request carries
 * its secret (`?auth=`); asking the Authorizer on every datagram would put it on the hot path. An
 * accepted (peer, secret) pair is therefore remembered for `authorizationCacheTtlMs`, with its own
 * publish and subscribe decision caches, as an MQTT connection remembers its decisions. Refusals are
 * not cached (a newly provisioned secret works at once; the rate limit bounds retries).
 * `Broker.invalidateAuthorizations()` forgets them.
 */
import type { AuthenticationResult, ClientInfo, ConnectRequest } from '../core/authorizer.js';
import type { BrokerCore } from '../core/broker-core.js';
import { DecisionCache } from '../core/decision-cache.js';
import type { Peer } from './peers.js';

export interface Credential {
  readonly client: ClientInfo;
  readonly publish: DecisionCache;
  readonly subscribe: DecisionCache;
  /** When this cache entry must be asked again. */
  readonly expiresAt: number;
  /** When the credential itself stops being valid (e.g. a JWT's `exp`), as the Authorizer said. */
  readonly validUntil: number | undefined;
}

export type Refusal = Exclude<AuthenticationResult, { ok: true }>['reason'];

/** Most remembered (peer, secret) pairs; when full the cache starts over. */
const MAX_CREDENTIALS = 10_000;

export class CredentialCache {
  private readonly entries = new Map<string, Credential>();
  private generation = 0;
  private readonly onInvalidate = (clientId?: string): void => this.invalidate(clientId);

  constructor(private readonly core: BrokerCore) {
    core.authorizationListeners.add(this.onInvalidate);
  }

  private get ttlMs(): number {
    return this.core.limits.authorizationCacheTtlMs;
  }

  /** The credential of this peer and secret, a refusal, or a Promise of either. */
  authenticate(
    peer: Peer,
    secret: Buffer | undefined,
    now: number,
  ): Credential | Refusal | Promise<Credential | Refusal> {
    const key = secret === undefined ? peer.key : `${peer.key}\n${secret.toString('latin1')}`;
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > now) return cached;
      this.entries.delete(key);
    }
    const clientId = `coap:${peer.key}`;
    const request: ConnectRequest = { clientId, protocol: 'coap', remoteAddress: peer.address };
    if (secret !== undefined) {
      request.password = Buffer.from(secret); // a copy: the datagram is not ours to hand out
      request.scheme = 'query';
    }
    const generation = this.generation;
    const result = this.core.authorizer.authenticate(request);
    const settle = (r: AuthenticationResult): Credential | Refusal => {
      if (!r.ok) return r.reason;
      const client: ClientInfo = {
        id: clientId,
        protocol: 'coap',
        remoteAddress: peer.address,
        ...(r.principal !== undefined && { principal: r.principal }),
      };
      const ttl = this.ttlMs;
      const credential: Credential = {
        client,
        publish: new DecisionCache(ttl),
        subscribe: new DecisionCache(ttl),
        expiresAt: Math.min(Date.now() + ttl, r.expiresAt ?? Number.POSITIVE_INFINITY),
        validUntil: r.expiresAt,
      };
      if (ttl > 0 && generation === this.generation) {
        if (this.entries.size >= MAX_CREDENTIALS) this.entries.clear();
        this.entries.set(key, credential);
      }
      return credential;
    };
    return result instanceof Promise ? result.then(settle) : settle(result);
  }

  mayPublish(credential: Credential, topic: string, now: number): boolean | Promise<boolean> {
    return this.decide(credential.publish, topic, now, () =>
      this.core.authorizer.authorizePublish(credential.client, topic),
    );
  }

  maySubscribe(credential: Credential, filter: string, now: number): boolean | Promise<boolean> {
    return this.decide(credential.subscribe, filter, now, () =>
      this.core.authorizer.authorizeSubscribe(credential.client, filter),
    );
  }

  private decide(
    cache: DecisionCache,
    topic: string,
    now: number,
    ask: () => boolean | Promise<boolean>,
  ): boolean | Promise<boolean> {
    const cached = cache.get(topic, now);
    if (cached !== undefined) return cached;
    const decision = ask();
    if (typeof decision === 'boolean') {
      cache.set(topic, decision, now);
      return decision;
    }
    const generation = cache.generation;
    return decision.then((allowed) => {
      cache.set(topic, allowed, Date.now(), generation);
      return allowed;
    });
  }

  /** Forgets remembered credentials and decisions (of one client id, or all). */
  invalidate(clientId?: string): void {
    for (const [key, credential] of this.entries) {
      if (clientId !== undefined && credential.client.id !== clientId) continue;
      credential.publish.clear();
      credential.subscribe.clear();
      this.entries.delete(key);
    }
    if (clientId === undefined) this.generation++;
  }

  /** Shutdown: forget everything and stop listening for invalidations. */
  dispose(): void {
    this.entries.clear();
    this.core.authorizationListeners.delete(this.onInvalidate);
  }
}
