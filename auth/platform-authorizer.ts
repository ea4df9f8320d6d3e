/**
 * The platform's Authorizer for the broker: things authenticate with their id and secret (or the
 * secret alone), users and system users with a token; publish and subscribe on
 * `channels/<id>/messages/...` are allowed by a connection (things) or by a permission on the
 * channel's node or a share of an asset carrying that channel (users).
 *
 * Decisions are cached on the principal object the broker already holds for each client (one Map
 * lookup on the hot path), with `decisionTtlMs` as a safety net, and dropped at once by management
 * changes (the ChangeFeed): credentials revoked → the client is disconnected; rights changed → the
 * cache is cleared, the broker's own cache too, and live subscriptions are checked again.
 *
 * The types below mirror broker/core/authorizer.ts structurally (auth/ does not import the broker);
 * admin/ passes this object to the broker, where the compiler checks they fit.
 */
import type { SqlStore } from '../storage/sql/store.js';
import type { AuthorizationChange, ChangeFeed } from './change-feed.js';
import { channelOfFilter, channelOfTopic } from './channel-topics.js';
import { coarseNow, holdCoarseClock } from './coarse-clock.js';
import type { Grants } from './grants.js';
import type { MessageAction, PolicyEngine } from './policy.js';
import { type ChannelRights, isPlatformPrincipal, PlatformPrincipal } from './principal.js';
import type { PrincipalMatch, SessionEnforcer } from './session-enforcer.js';
import type { ThingSecrets } from './thing-secrets.js';
import { looksLikeJwt, type TokenService } from './tokens.js';

export interface AuthRequest {
  clientId: string;
  username?: string;
  password?: Buffer;
  scheme?: 'thing' | 'bearer' | 'basic' | 'query';
  protocol: string;
}

export interface AuthClient {
  readonly id: string;
  readonly principal?: unknown;
}

export type AuthResult =
  /** `expiresAt` (ms since the epoch): the token's expiry; the broker closes the connection then. */
  | { ok: true; principal?: unknown; expiresAt?: number }
  | { ok: false; reason: 'bad-credentials' | 'not-authorized' | 'unavailable' };

export interface PlatformAuthorizerOptions {
  /** Lifetime of a cached decision, ms (a safety net: changes invalidate at once). Default 60 s. */
  decisionTtlMs?: number;
  /** Most cached decisions per principal before its cache starts over. Default 4096. */
  maxDecisionsPerPrincipal?: number;
  /** Called with errors of the store while deciding (they count as refusals). */
  onError?: (err: unknown, context: string) => void;
}

const BAD: AuthResult = { ok: false, reason: 'bad-credentials' };
const REFUSED: AuthResult = { ok: false, reason: 'not-authorized' };
const UNAVAILABLE: AuthResult = { ok: false, reason: 'unavailable' };

export class PlatformAuthorizer {
  private readonly ttl: number;
  private readonly maxDecisions: number;
  private readonly onError: (err: unknown, context: string) => void;
  /** Live principals by key; weak, so a principal no client holds any more can be collected. */
  private readonly principals = new Map<string, WeakRef<PlatformPrincipal>>();
  private readonly finalizer = new FinalizationRegistry<string>((key) => {
    if (this.principals.get(key)?.deref() === undefined) this.principals.delete(key);
  });
  private readonly enforcers = new Set<SessionEnforcer>();
  private readonly unsubscribe: () => void;
  private readonly releaseClock: () => void;
  /** Exchanges a personal access token (`omap_pat_…`) for an access token (set by the OAuth server). */
  patExchange: ((pat: string) => Promise<string | null>) | null = null;

  constructor(
    private readonly store: SqlStore,
    private readonly secrets: ThingSecrets,
    private readonly tokens: TokenService,
    private readonly policy: PolicyEngine,
    changes: ChangeFeed,
    options: PlatformAuthorizerOptions = {},
  ) {
    this.ttl = options.decisionTtlMs ?? 60_000;
    this.maxDecisions = options.maxDecisionsPerPrincipal ?? 4096;
    this.onError = options.onError ?? (() => {});
    this.unsubscribe = changes.subscribe((change) => this.apply(change));
    this.releaseClock = holdCoarseClock();
  }

  /** Connects the broker side that disconnects clients and removes subscriptions. */
  attach(enforcer: SessionEnforcer): () => void {
    this.enforcers.add(enforcer);
    return () => this.enforcers.delete(enforcer);
  }

  close(): void {
    this.releaseClock();
    this.unsubscribe();
    this.enforcers.clear();
  }

  // ---- authentication ----------------------------------------------------------------------

  authenticate(request: AuthRequest): Promise<AuthResult> {
    return this.identify(request).catch((err: unknown) => {
      this.onError(err, 'authenticate');
      return UNAVAILABLE;
    });
  }

  private async identify(request: AuthRequest): Promise<AuthResult> {
    const password = request.password;
    if (password === undefined || password.length === 0 || password.length > 4096) return BAD;
    const secret = password.toString('utf8');
    if (this.patExchange !== null && secret.startsWith('omap_pat_')) {
      const token = await this.patExchange(secret);
      return token === null ? BAD : this.authenticateToken(token);
    }
    if (request.scheme === 'bearer' || looksLikeJwt(secret)) return this.authenticateToken(secret);
    if (request.scheme === 'thing' || request.scheme === 'query') return this.authenticateThing(null, secret);
    // MQTT username/password and HTTP Basic: the username names the thing (optional for MQTT 5).
    const username = request.username;
    return this.authenticateThing(username === undefined || username === '' ? null : username, secret);
  }

  private async authenticateThing(thingId: string | null, secret: string): Promise<AuthResult> {
    const thing =
      thingId === null
        ? await this.store.things.bySecretHash(this.secrets.hash(secret))
        : await this.store.things.credentials(thingId);
    if (thing === undefined || !this.secrets.matches(secret, thing.secretHash)) return BAD;
    if (thing.status !== 'enabled') return REFUSED;
    return {
      ok: true,
      principal: this.principal(
        `thing:${thing.id}`,
        () => new PlatformPrincipal('thing', thing.id, thing.tenantId, `thing:${thing.id}`),
      ),
    };
  }

  private async authenticateToken(token: string): Promise<AuthResult> {
    const claims = await this.tokens.verify(token);
    if (claims === null) return BAD;
    const user = await this.store.users.get(claims.userId);
    if (user === undefined) return BAD;
    if (user.status !== 'enabled') return REFUSED;
    const key = `token:${claims.tokenId}`;
    return {
      ok: true,
      expiresAt: claims.expiresAt * 1000,
      principal: this.principal(
        key,
        () => new PlatformPrincipal('user', user.id, user.tenantId, key, user.kind, claims.expiresAt * 1000),
      ),
    };
  }

  /** The live principal of `key`, or a new one registered under it. */
  private principal(key: string, create: () => PlatformPrincipal): PlatformPrincipal {
    const existing = this.principals.get(key)?.deref();
    if (existing !== undefined && !existing.revoked) return existing;
    const fresh = create();
    this.principals.set(key, new WeakRef(fresh));
    this.finalizer.register(fresh, key);
    return fresh;
  }

  // ---- authorization (the hot path) --------------------------------------------------------

  authorizePublish(client: AuthClient, topic: string): boolean | Promise<boolean> {
    const p = client.principal;
    if (!(p instanceof PlatformPrincipal)) return false;
    const e = p.publishDecisions.get(topic);
    if (e !== undefined) {
      const now = coarseNow();
      if (e > 0 ? e > now : -e > now) return e > 0;
    }
    return this.decide(p, p.publishDecisions, topic, channelOfTopic(topic), 'publish');
  }

  authorizeSubscribe(client: AuthClient, filter: string): boolean | Promise<boolean> {
    const p = client.principal;
    if (!(p instanceof PlatformPrincipal)) return false;
    const e = p.subscribeDecisions.get(filter);
    if (e !== undefined) {
      const now = coarseNow();
      if (e > 0 ? e > now : -e > now) return e > 0;
    }
    return this.decide(p, p.subscribeDecisions, filter, channelOfFilter(filter), 'subscribe');
  }

  /** A cache miss: from the principal's channel rights when known, else from the store. */
  private decide(
    p: PlatformPrincipal,
    decisions: Map<string, number>,
    key: string,
    channelId: string | null,
    action: MessageAction,
  ): boolean | Promise<boolean> {
    const now = coarseNow();
    if (p.revoked || p.expiresAt <= Date.now()) return false;
    const rights = p.channels.get(channelId ?? '');
    if (rights !== undefined && rights.expires > now) {
      const allowed = rights[action];
      this.remember(decisions, key, allowed, Math.min(rights.expires, p.expiresAt));
      return allowed;
    }
    const generation = p.generation;
    return this.channelRights(p, channelId, now).then(
      (r): boolean | Promise<boolean> => {
        if (p.revoked) return false;
        // A change arrived while we were reading: this answer may predate it (and a subscription
        // granted on it would escape the re-check that change ran), so decide again.
        if (p.generation !== generation) return this.decide(p, decisions, key, channelId, action);
        p.channels.set(channelId ?? '', r);
        const allowed = r[action];
        this.remember(decisions, key, allowed, Math.min(r.expires, p.expiresAt));
        return allowed;
      },
      (err: unknown) => {
        this.onError(err, `authorize ${action}`);
        return false;
      },
    );
  }

  private remember(decisions: Map<string, number>, key: string, allowed: boolean, expires: number): void {
    if (decisions.size >= this.maxDecisions) decisions.clear();
    decisions.set(key, allowed ? expires : -expires);
  }

  private async channelRights(
    p: PlatformPrincipal,
    channelId: string | null,
    now: number,
  ): Promise<ChannelRights> {
    const expires = now + this.ttl;
    if (p.kind === 'thing') {
      if (channelId === null) return { publish: false, subscribe: false, expires };
      const connection = await this.store.connections.get(p.id, channelId);
      return { publish: connection?.publish ?? false, subscribe: connection?.subscribe ?? false, expires };
    }
    const grants = await this.userGrants(p, now);
    if (channelId === null) {
      // Topics outside channels: only for SYSTEM-wide message permissions.
      return {
        publish: grants.everywhere('messages.publish'),
        subscribe: grants.everywhere('messages.subscribe'),
        expires,
      };
    }
    const channel = await this.store.channels.get(channelId);
    if (channel === undefined) return { publish: false, subscribe: false, expires };
    const [publish, subscribe] = await Promise.all([
      this.policy.channelAccess(grants, channel, 'publish'),
      this.policy.channelAccess(grants, channel, 'subscribe'),
    ]);
    return { publish, subscribe, expires };
  }

  private async userGrants(p: PlatformPrincipal, now: number): Promise<Grants> {
    if (p.grants !== null && p.grants.expires > now) return p.grants.value;
    const generation = p.generation;
    const value = await this.policy.grantsOf(p.id);
    if (p.generation === generation) p.grants = { value, expires: now + this.ttl };
    return value;
  }

  // ---- management changes ------------------------------------------------------------------

  private live(): PlatformPrincipal[] {
    const out: PlatformPrincipal[] = [];
    for (const [key, ref] of this.principals) {
      const p = ref.deref();
      if (p === undefined) this.principals.delete(key);
      else out.push(p);
    }
    return out;
  }

  private async apply(change: AuthorizationChange): Promise<void> {
    switch (change.type) {
      case 'thing.secret-rotated':
        return this.revoke(
          (p) => p.kind === 'thing' && p.id === change.thingId,
          'credentials changed',
          false,
        );
      case 'thing.disabled':
      case 'thing.deleted':
        return this.revoke((p) => p.kind === 'thing' && p.id === change.thingId, change.type, true);
      case 'user.disabled':
      case 'user.deleted':
        return this.revoke((p) => p.kind === 'user' && p.id === change.userId, change.type, true);
      case 'tokens.revoked': {
        const keys = new Set(change.tokenIds.map((id) => `token:${id}`));
        return this.revoke((p) => keys.has(p.key), 'token revoked', false);
      }
      case 'connection.changed':
        return this.refresh(
          (p) => p.kind === 'thing' && p.id === change.thingId,
          (f) => channelOfFilter(f) === change.channelId,
        );
      case 'channel.changed':
        return;
      case 'channel.deleted':
        return this.refresh(
          () => true,
          (f) => channelOfFilter(f) === change.channelId,
        );
      case 'user.grants-changed':
        return this.refresh((p) => p.kind === 'user' && p.id === change.userId);
      case 'grants.changed':
        return this.refresh((p) => p.kind === 'user');
    }
  }

  /** Revokes matching principals and ends their clients' connections (and sessions). */
  private async revoke(
    which: (p: PlatformPrincipal) => boolean,
    reason: string,
    discardSessions: boolean,
  ): Promise<void> {
    const revoked = new Set<PlatformPrincipal>();
    for (const p of this.live()) {
      if (!which(p)) continue;
      p.revoke();
      this.principals.delete(p.key);
      revoked.add(p);
    }
    const match: PrincipalMatch = (principal) =>
      isPlatformPrincipal(principal) && (revoked.has(principal) || (principal.revoked && which(principal)));
    for (const e of this.enforcers) {
      e.invalidate(match);
      e.disconnect(match, reason, discardSessions);
    }
  }

  /** Forgets matching principals' decisions and re-checks their live subscriptions. */
  private async refresh(
    which: (p: PlatformPrincipal) => boolean,
    filter?: (topicFilter: string) => boolean,
  ): Promise<void> {
    const affected = new Set<PlatformPrincipal>();
    for (const p of this.live()) {
      if (!which(p)) continue;
      p.clear();
      affected.add(p);
    }
    const match: PrincipalMatch = (principal) => isPlatformPrincipal(principal) && affected.has(principal);
    const rechecks: Promise<number>[] = [];
    for (const e of this.enforcers) {
      e.invalidate(match);
      rechecks.push(e.recheckSubscriptions(match, filter));
    }
    await Promise.all(rechecks);
  }
}
