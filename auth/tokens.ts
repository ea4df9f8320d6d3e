/**
 * Access tokens: JWTs signed by the key ring (EdDSA), each with a `jti` recorded in the database so
 * that it can be revoked before it expires (logout, a human's new login, a disabled user).
 *
 * Verifying costs a signature check (~100 µs) and a revocation lookup; a verified token is cached
 * (keyed by its text) for `cacheTtlMs` at most, so a burst of requests with one token pays once.
 * Revocations made through this service drop the cache entry at once; revocations made by another
 * node reach this one at the latest after `cacheTtlMs`.
 */
import { randomUUID } from 'node:crypto';
import { type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { TokensRepository } from '../storage/sql/repositories/tokens.js';
import type { TokenKind, UserKind } from '../storage/sql/schema.js';
import type { ChangeFeed } from './change-feed.js';
import type { KeyRing } from './key-ring.js';

export interface TokenOptions {
  /** `iss` of every token. Default `omap`. */
  issuer: string;
  /** `aud` of every token. Default `omap`. */
  audience: string;
  /** Lifetime of a human's login token, seconds. Default 8 h. */
  loginTtlSeconds: number;
  /** Lifetime of a system user's API token, seconds. Default 30 days. */
  apiTtlSeconds: number;
  /** How long a verified token is trusted without asking the database again, ms. Default 30 s. */
  cacheTtlMs: number;
  /** Most verified tokens cached. Default 10000. */
  maxCached: number;
}

export const DEFAULT_TOKEN_OPTIONS: TokenOptions = {
  issuer: 'omap',
  audience: 'omap',
  loginTtlSeconds: 8 * 3600,
  apiTtlSeconds: 30 * 86_400,
  cacheTtlMs: 30_000,
  maxCached: 10_000,
};

/** What a verified token says. */
export interface AccessClaims {
  userId: string;
  tokenId: string;
  kind: TokenKind;
  userKind: UserKind;
  tenantId: string | null;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export interface IssuedToken {
  token: string;
  claims: AccessClaims;
}

interface CachedToken {
  claims: AccessClaims;
  checkedAt: number;
}

const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/;

/** Does `text` look like a compact JWS (so it is tried as a token, not as a thing secret)? */
export function looksLikeJwt(text: string): boolean {
  return text.length > 20 && JWT_SHAPE.test(text);
}

export class TokenService {
  readonly options: TokenOptions;
  private readonly verified = new Map<string, CachedToken>();

  constructor(
    private readonly tokens: TokensRepository,
    private readonly keys: KeyRing,
    options: Partial<TokenOptions> = {},
  ) {
    this.options = { ...DEFAULT_TOKEN_OPTIONS, ...options };
  }

  /** Signs and records a token. The caller revokes older ones first where only one may live. */
  async issue(
    user: { id: string; kind: UserKind; tenantId: string | null },
    kind: TokenKind,
    tokens: TokensRepository = this.tokens,
  ): Promise<IssuedToken> {
    const ttl = kind === 'login' ? this.options.loginTtlSeconds : this.options.apiTtlSeconds;
    const issuedAt = Math.floor(Date.now() / 1000);
    const claims: AccessClaims = {
      userId: user.id,
      tokenId: randomUUID(),
      kind,
      userKind: user.kind,
      tenantId: user.tenantId,
      expiresAt: issuedAt + ttl,
    };
    const key = this.keys.current;
    const token = await new SignJWT({ knd: kind, ukd: user.kind, tid: user.tenantId })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(user.id)
      .setJti(claims.tokenId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(claims.expiresAt)
      .sign(key.privateKey);
    await tokens.insert({
      id: claims.tokenId,
      userId: user.id,
      kind,
      issuedAt: new Date(issuedAt * 1000).toISOString(),
      expiresAt: new Date(claims.expiresAt * 1000).toISOString(),
    });
    return { token, claims };
  }

  /** The claims of a valid, unrevoked token; null otherwise (never throws for a bad token). */
  async verify(token: string): Promise<AccessClaims | null> {
    const now = Date.now();
    const cached = this.verified.get(token);
    if (cached !== undefined) {
      if (cached.claims.expiresAt * 1000 > now && now - cached.checkedAt < this.options.cacheTtlMs) {
        return cached.claims;
      }
      this.verified.delete(token);
    }
    let payload: JWTPayload;
    try {
      const result = await jwtVerify(
        token,
        (header) => {
          const key = this.keys.verificationKey(header);
          if (key === undefined) throw new Error('unknown signing key');
          return key;
        },
        {
          issuer: this.options.issuer,
          audience: this.options.audience,
          algorithms: ['EdDSA'],
          typ: 'at+jwt',
          requiredClaims: ['exp', 'jti', 'sub'],
          clockTolerance: 5,
        },
      );
      payload = result.payload;
    } catch {
      return null;
    }
    const claims = toClaims(payload);
    if (claims === null) return null;
    const record = await this.tokens.get(claims.tokenId);
    if (record === undefined || record.revokedAt !== null || record.userId !== claims.userId) return null;
    if (this.verified.size >= this.options.maxCached) {
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(token, { claims, checkedAt: now });
    return claims;
  }

  /** Forgets cached verifications of these token ids (they were just revoked). */
  forget(tokenIds: readonly string[]): void {
    if (tokenIds.length === 0) return;
    const ids = new Set(tokenIds);
    for (const [token, entry] of this.verified)
      if (ids.has(entry.claims.tokenId)) this.verified.delete(token);
  }

  /** Keeps the verification cache in step with revocations announced on `changes`. */
  follow(changes: ChangeFeed): () => void {
    return changes.subscribe((change) => {
      if (change.type === 'tokens.revoked') this.forget(change.tokenIds);
      else if (change.type === 'user.disabled' || change.type === 'user.deleted')
        this.forgetUser(change.userId);
    });
  }

  /** Forgets every cached verification of a user's tokens. */
  forgetUser(userId: string): void {
    for (const [token, entry] of this.verified)
      if (entry.claims.userId === userId) this.verified.delete(token);
  }
}

function toClaims(p: JWTPayload): AccessClaims | null {
  const kind = p.knd;
  const userKind = p.ukd;
  const tenantId = p.tid;
  if (kind !== 'login' && kind !== 'api') return null;
  if (userKind !== 'human' && userKind !== 'system') return null;
  if (tenantId !== null && typeof tenantId !== 'string') return null;
  if (typeof p.sub !== 'string' || typeof p.jti !== 'string' || typeof p.exp !== 'number') return null;
  return { userId: p.sub, tokenId: p.jti, kind, userKind, tenantId, expiresAt: p.exp };
}
