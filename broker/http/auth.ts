/**
 * Who is calling: the `Authorization` header (or `?authorization=` where a browser cannot set
 * headers) turned into a `ConnectRequest` for the broker's Authorizer, with a small TTL cache of
 * the answers so an HTTP publisher pays for authentication once per credential, not per request.
 *
 * Accepted forms: `Thing <secret>` (scheme 'thing'), `Bearer <token>` ('bearer'),
 * `Basic <base64 user:password>` ('basic'); no header at all asks the Authorizer without a
 * password (the default allowAll accepts). Anything else is refused as bad credentials.
 *
 * Cache: keyed by protocol and the header's exact text; an entry lives `authorizationCacheTtlMs`
 * (0 disables the cache) or until the credential's `expiresAt`, failures too (except
 * 'unavailable', which is retried), and
 * `broker.invalidateAuthorizations()` drops entries at once. Concurrent requests presenting the
 * same credential while the Authorizer is deciding share its one answer.
 */
import type { AuthenticationResult, ClientInfo, ConnectRequest, Protocol } from '../core/authorizer.js';
import type { BrokerCore } from '../core/broker-core.js';
import { DecisionCache } from '../core/decision-cache.js';

export interface Credentials {
  username?: string;
  password?: Buffer;
  scheme?: 'thing' | 'bearer' | 'basic';
}

/** Parses an Authorization value; `{}` for none, `null` for a malformed or unsupported one. */
export function parseAuthorization(value: string): Credentials | null {
  if (value === '') return {};
  const space = value.indexOf(' ');
  if (space <= 0) return null;
  const scheme = value.slice(0, space).toLowerCase();
  const token = value.slice(space + 1).trim();
  if (token === '') return null;
  if (scheme === 'thing') return { password: Buffer.from(token), scheme: 'thing' };
  if (scheme === 'bearer') return { password: Buffer.from(token), scheme: 'bearer' };
  if (scheme === 'basic') {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return null;
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    return {
      username: decoded.slice(0, colon),
      password: Buffer.from(decoded.slice(colon + 1)),
      scheme: 'basic',
    };
  }
  return null;
}

/** An authenticated caller: what the Authorizer said, and its publish decisions so far. */
export interface Identity {
  /** The ClientInfo requests with this credential publish as (HTTP). */
  readonly client: ClientInfo;
  readonly username: string | undefined;
  readonly principal: unknown;
  /** Publish decisions for this credential (HTTP publishes; WebSockets keep their own). */
  readonly decisions: DecisionCache;
  /** When the credential stops being valid (ms since epoch), if the Authorizer said. */
  readonly expiresAt: number | undefined;
}

export type AuthOutcome =
  | { ok: true; identity: Identity }
  | { ok: false; status: 401 | 403 | 503; message: string };

interface Entry {
  outcome: AuthOutcome;
  expires: number;
}

const MALFORMED: AuthOutcome = {
  ok: false,
  status: 401,
  message: 'unsupported or malformed Authorization (use Thing <secret>, Bearer <token> or Basic)',
};

let nextIdentity = 1;

export class HttpAuthenticator {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<AuthOutcome>>();
  /** Bumped by every invalidation, so an answer that was in flight then is not cached. */
  private generation = 0;

  constructor(
    private readonly core: BrokerCore,
    private readonly maxEntries: number,
  ) {}

  /**
   * Authenticates an `Authorization` value: synchronously when cached or when the Authorizer
   * answers synchronously, else with a Promise. `remoteAddress` is read only on a cache miss (it
   * must be called synchronously, while the uWS request is valid).
   */
  authenticate(
    protocol: Protocol,
    authorization: string,
    remoteAddress: () => string | undefined,
  ): AuthOutcome | Promise<AuthOutcome> {
    const key = `${protocol} ${authorization}`;
    const ttl = this.core.limits.authorizationCacheTtlMs;
    const now = Date.now();
    if (ttl > 0) {
      const entry = this.entries.get(key);
      if (entry !== undefined) {
        if (entry.expires > now) return entry.outcome;
        this.entries.delete(key);
      }
      const shared = this.pending.get(key);
      if (shared !== undefined) return shared;
    }
    const credentials = parseAuthorization(authorization);
    if (credentials === null) return this.remember(key, MALFORMED, this.generation);

    const id = `${protocol}-${nextIdentity++}`;
    const request: ConnectRequest = { clientId: id, protocol };
    if (credentials.username !== undefined) request.username = credentials.username;
    if (credentials.password !== undefined) request.password = credentials.password;
    if (credentials.scheme !== undefined) request.scheme = credentials.scheme;
    const address = remoteAddress();
    if (address !== undefined) request.remoteAddress = address;

    let result: AuthenticationResult | Promise<AuthenticationResult>;
    try {
      result = this.core.authorizer.authenticate(request);
    } catch (err) {
      return this.failed(err);
    }
    const generation = this.generation;
    if (!(result instanceof Promise)) {
      return this.remember(key, outcomeOf(id, request, result, ttl), generation);
    }
    const promise = result.then(
      (r) => this.remember(key, outcomeOf(id, request, r, ttl), generation),
      (err: unknown) => this.failed(err),
    );
    if (ttl > 0) {
      this.pending.set(key, promise);
      void promise.finally(() => this.pending.delete(key));
    }
    return promise;
  }

  /** Forgets cached answers: all, or those of one client id. */
  invalidate(clientId?: string): void {
    this.generation++;
    if (clientId === undefined) {
      this.entries.clear();
      return;
    }
    for (const [key, entry] of this.entries) {
      if (entry.outcome.ok && entry.outcome.identity.client.id === clientId) this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private remember(key: string, outcome: AuthOutcome, generation: number): AuthOutcome {
    const ttl = this.core.limits.authorizationCacheTtlMs;
    const transient = !outcome.ok && outcome.status === 503;
    if (ttl > 0 && !transient && generation === this.generation) {
      if (this.entries.size >= this.maxEntries) {
        // Evict the oldest entry (Map keeps insertion order).
        const oldest = this.entries.keys().next();
        if (!oldest.done) this.entries.delete(oldest.value);
      }
      // A credential that expires sooner (a JWT's exp) is not reused past that moment.
      const expiresAt = outcome.ok
        ? (outcome.identity.expiresAt ?? Number.POSITIVE_INFINITY)
        : Number.POSITIVE_INFINITY;
      this.entries.set(key, { outcome, expires: Math.min(Date.now() + ttl, expiresAt) });
    }
    return outcome;
  }

  private failed(err: unknown): AuthOutcome {
    this.core.logger.error({ err }, 'authenticate failed');
    return { ok: false, status: 503, message: 'authentication is unavailable, retry later' };
  }
}

function outcomeOf(
  id: string,
  request: ConnectRequest,
  result: AuthenticationResult,
  decisionTtlMs: number,
): AuthOutcome {
  if (result.ok && result.expiresAt !== undefined && result.expiresAt <= Date.now()) {
    return { ok: false, status: 401, message: 'the credential has expired' };
  }
  if (!result.ok) {
    if (result.reason === 'unavailable') {
      return { ok: false, status: 503, message: 'authentication is unavailable, retry later' };
    }
    if (result.reason === 'not-authorized') {
      return { ok: false, status: 403, message: 'this client may not connect' };
    }
    return { ok: false, status: 401, message: 'bad credentials' };
  }
  const client: ClientInfo = {
    id,
    protocol: request.protocol,
    ...(request.username !== undefined && { username: request.username }),
    ...(result.principal !== undefined && { principal: result.principal }),
  };
  return {
    ok: true,
    identity: {
      client,
      username: request.username,
      principal: result.principal,
      decisions: new DecisionCache(decisionTtlMs),
      expiresAt: result.expiresAt,
    },
  };
}

/** The ClientInfo of one connection (WebSocket, SSE stream) of an authenticated identity. */
export function connectionClient(
  identity: Identity,
  id: string,
  protocol: Protocol,
  remoteAddress: string | undefined,
): ClientInfo {
  return {
    id,
    protocol,
    ...(identity.username !== undefined && { username: identity.username }),
    ...(identity.principal !== undefined && { principal: identity.principal }),
    ...(remoteAddress !== undefined && { remoteAddress }),
  };
}

/**
 * May `client` publish to `topic`? From `decisions` when cached, else from the Authorizer
 * (synchronously when it answers synchronously). An Authorizer error counts as a refusal.
 */
export function authorizePublish(
  core: BrokerCore,
  client: ClientInfo,
  decisions: DecisionCache,
  topic: string,
): boolean | Promise<boolean> {
  const now = Date.now();
  const cached = decisions.get(topic, now);
  if (cached !== undefined) return cached;
  let decision: boolean | Promise<boolean>;
  try {
    decision = core.authorizer.authorizePublish(client, topic);
  } catch (err) {
    core.logger.error({ err, clientId: client.id, topic }, 'authorizePublish failed');
    return false;
  }
  if (typeof decision === 'boolean') {
    decisions.set(topic, decision, now);
    return decision;
  }
  const generation = decisions.generation;
  return decision.then(
    (allowed) => {
      decisions.set(topic, allowed, Date.now(), generation);
      return allowed;
    },
    (err: unknown) => {
      core.logger.error({ err, clientId: client.id, topic }, 'authorizePublish failed');
      return false;
    },
  );
}

/** `authorizeSubscribe`, with an Authorizer error counted as a refusal. */
export function authorizeSubscribe(
  core: BrokerCore,
  client: ClientInfo,
  filter: string,
): boolean | Promise<boolean> {
  try {
    const decision = core.authorizer.authorizeSubscribe(client, filter);
    if (typeof decision === 'boolean') return decision;
    return decision.catch((err: unknown) => {
      core.logger.error({ err, clientId: client.id, filter }, 'authorizeSubscribe failed');
      return false;
    });
  } catch (err) {
    core.logger.error({ err, clientId: client.id, filter }, 'authorizeSubscribe failed');
    return false;
  }
}
