/**
 * The OAuth 2.0 authorization server of one installation, per tenant (`/oauth2/<tenant id>`):
 * client authentication, the grants (client_credentials, authorization_code + PKCE S256,
 * refresh_token with rotation and reuse detection, and — only for clients configured for them —
 * password and implicit), revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414) and
 * personal access tokens. Transport-free: the HTTP layer (admin/routes/oauth.ts) turns requests
 * into calls here and results into responses.
 *
 * Access tokens are the platform's own JWTs (EdDSA, `kid`, `typ: at+jwt`), recorded in the tokens
 * table like login tokens, so the broker authorizer, the REST API and revocation through the
 * change feed treat them exactly like those; they add `client_id`, `scope` and the client's
 * audiences to `aud`.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import { OAuthRepository, type PatRecord } from '../../storage/sql/repositories/oauth.js';
import type { TokenKind, UserKind } from '../../storage/sql/schema.js';
import type { SqlStore } from '../../storage/sql/store.js';
import type { ChangeFeed } from '../change-feed.js';
import type { KeyRing } from '../key-ring.js';
import { type PasswordHasher, UNUSABLE_PASSWORD_HASH } from '../passwords.js';
import { looksLikeJwt, type TokenService } from '../tokens.js';
import {
  type ClientRegistry,
  type GrantType,
  type OAuthClient,
  SCOPE_TOKEN,
  secretMatches,
} from './clients.js';

export interface OAuthServerOptions {
  /** `https://host[:port]` the issuers start with; absent: `http://<Host header>`. */
  issuerBase?: string;
  /** Access token lifetime, seconds. Default 900 (15 min). */
  accessTokenTtlSeconds: number;
  /** Refresh token lifetime, seconds. Default 30 days. */
  refreshTokenTtlSeconds: number;
  /** Authorization code lifetime, seconds. Default 60. */
  codeTtlSeconds: number;
  /** Lifetime of the access token a PAT is exchanged for, seconds. Default 900. */
  patAccessTokenTtlSeconds: number;
  /** Longest PAT lifetime, days. Default 365. */
  maxPatDays: number;
}

export const DEFAULT_OAUTH_OPTIONS: OAuthServerOptions = {
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 30 * 86_400,
  codeTtlSeconds: 60,
  patAccessTokenTtlSeconds: 900,
  maxPatDays: 365,
};

/** An RFC 6749 error: `error`, its description and the HTTP status. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(description);
  }
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

/** A form (x-www-form-urlencoded) as parsed: duplicate parameters are an error (RFC 6749 §3.1). */
export type Form = ReadonlyMap<string, string>;

interface PendingCode {
  clientId: string;
  tenantId: string;
  userId: string;
  redirectUri: string;
  challenge: string | null;
  scope: string;
  expiresAt: number;
  used: boolean;
  /** What the code was exchanged for (revoked if it is replayed). */
  issued: { tokenId: string; familyId: string | null } | null;
}

export interface AuthorizeRequest {
  client: OAuthClient;
  responseType: 'code' | 'token';
  redirectUri: string;
  scope: string;
  state: string | null;
  codeChallenge: string | null;
}

/** Where the authorization endpoint sends the browser. */
export type AuthorizeOutcome =
  | { kind: 'page'; request: AuthorizeRequest }
  | { kind: 'redirect'; location: string }
  | { kind: 'error-page'; status: number; message: string };

export interface CreatedPat {
  token: string;
  pat: PatView;
}

export interface PatView {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export const PAT_PREFIX = 'omap_pat_';

const hashHex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const randomToken = () => randomBytes(32).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

export function patView(p: PatRecord): PatView {
  return {
    id: p.id,
    name: p.name,
    scopes: p.scope === '' ? [] : p.scope.split(' '),
    createdAt: p.createdAt,
    expiresAt: p.expiresAt,
    revokedAt: p.revokedAt,
  };
}

export class OAuthServer {
  readonly options: OAuthServerOptions;
  readonly repository: OAuthRepository;
  private readonly codes = new Map<string, PendingCode>();
  /** PAT text → the access token it was exchanged for. */
  private readonly patTokens = new Map<
    string,
    { token: string; tokenId: string; patId: string; exp: number }
  >();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly store: SqlStore,
    private readonly keys: KeyRing,
    private readonly tokens: TokenService,
    private readonly passwords: PasswordHasher,
    private readonly changes: ChangeFeed,
    readonly clients: ClientRegistry,
    options: Partial<OAuthServerOptions> = {},
  ) {
    this.options = { ...DEFAULT_OAUTH_OPTIONS, ...options };
    this.repository = new OAuthRepository(store.db);
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [code, c] of this.codes) if (c.expiresAt + 60_000 < now) this.codes.delete(code);
      for (const [pat, t] of this.patTokens) if (t.exp * 1000 < now) this.patTokens.delete(pat);
    }, 30_000);
    this.sweep.unref();
  }

  close(): void {
    clearInterval(this.sweep);
  }

  // ---- tenants and metadata ------------------------------------------------------------------

  /** Is `tenantId` an existing tenant? */
  async tenantExists(tenantId: string): Promise<boolean> {
    if (!/^[\w-]{1,64}$/.test(tenantId)) return false;
    const node = await this.store.nodes.get(tenantId);
    return node !== undefined && node.kind === 'tenant' && node.id === node.tenantId;
  }

  issuer(base: string, tenantId: string): string {
    return `${this.options.issuerBase ?? base}/oauth2/${tenantId}`;
  }

  /** RFC 8414 metadata of a tenant's authorization server. */
  metadata(base: string, tenantId: string): Record<string, unknown> {
    const issuer = this.issuer(base, tenantId);
    const root = this.options.issuerBase ?? base;
    return {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      revocation_endpoint: `${issuer}/revoke`,
      introspection_endpoint: `${issuer}/introspect`,
      jwks_uri: `${root}/.well-known/jwks.json`,
      response_types_supported: ['code', 'token'],
      response_modes_supported: ['query', 'fragment'],
      grant_types_supported: [
        'authorization_code',
        'refresh_token',
        'client_credentials',
        'password',
        'implicit',
      ],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: [...new Set(this.clients.ofTenant(tenantId).flatMap((c) => c.scopes))].sort(),
      authorization_response_iss_parameter_supported: true,
    };
  }

  // ---- client authentication -----------------------------------------------------------------

  /**
   * The client of a request: Basic (`client_secret_basic`, id and secret form-urlencoded), or
   * `client_id` + `client_secret` in the form, or `client_id` alone for a public client.
   */
  authenticateClient(
    tenantId: string,
    form: Form,
    authorization: string | undefined,
    requireSecret = false,
  ): OAuthClient {
    let clientId: string | undefined;
    let secret: string | undefined;
    const basic = authorization !== undefined && /^basic\s/i.test(authorization);
    const challenge = { 'WWW-Authenticate': `Basic realm="oauth2/${tenantId}"` };
    const invalid = (why: string) => new OAuthError('invalid_client', why, 401, basic ? challenge : {});
    if (basic) {
      if (form.has('client_secret'))
        throw new OAuthError('invalid_request', 'use one client authentication method');
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw invalid('malformed Basic credentials');
      try {
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      } catch {
        throw invalid('malformed Basic credentials');
      }
      const formId = form.get('client_id');
      if (formId !== undefined && formId !== clientId)
        throw invalid('client_id differs from the Basic credentials');
    } else {
      clientId = form.get('client_id');
      secret = form.get('client_secret');
    }
    if (clientId === undefined || clientId === '') throw invalid('client authentication is required');
    const client = this.clients.get(tenantId, clientId);
    if (client === undefined) throw invalid('unknown client or wrong secret');
    if (client.secretHash !== null) {
      if (secret === undefined || !secretMatches(client, secret))
        throw invalid('unknown client or wrong secret');
    } else if (secret !== undefined || requireSecret) {
      throw invalid('a public client cannot authenticate here');
    }
    if (!client.enabled) throw invalid('this client is disabled');
    return client;
  }

  private scopeFor(client: OAuthClient, requested: string | undefined, within?: readonly string[]): string {
    const allowed = within ?? client.scopes;
    if (requested === undefined) return allowed.join(' ');
    const items = requested.split(' ').filter((s) => s !== '');
    for (const s of items) {
      if (!SCOPE_TOKEN.test(s)) throw new OAuthError('invalid_scope', `"${s}" is not a valid scope token`);
      if (!allowed.includes(s)) throw new OAuthError('invalid_scope', `scope "${s}" is not allowed`);
    }
    return [...new Set(items)].join(' ');
  }

  private requireGrant(client: OAuthClient, grant: GrantType): void {
    if (!client.grantTypes.has(grant)) {
      throw new OAuthError('unauthorized_client', `this client may not use the ${grant} grant`);
    }
  }

  // ---- the token endpoint --------------------------------------------------------------------

  async token(tenantId: string, form: Form, authorization: string | undefined): Promise<TokenResponse> {
    const grant = form.get('grant_type');
    if (grant === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
    if (!['authorization_code', 'refresh_token', 'client_credentials', 'password'].includes(grant)) {
      throw new OAuthError('unsupported_grant_type', `unsupported grant_type "${grant}"`);
    }
    const client = this.authenticateClient(tenantId, form, authorization);
    switch (grant) {
      case 'client_credentials':
        return this.clientCredentials(client, form);
      case 'authorization_code':
        return this.authorizationCode(client, form);
      case 'refresh_token':
        return this.refresh(client, form);
      default:
        return this.password(client, form);
    }
  }

  private async clientCredentials(client: OAuthClient, form: Form): Promise<TokenResponse> {
    this.requireGrant(client, 'client_credentials');
    if (client.secretHash === null)
      throw new OAuthError('unauthorized_client', 'public clients cannot use client_credentials');
    const scope = this.scopeFor(client, form.get('scope'));
    const user = client.serviceUserId === null ? undefined : await this.store.users.get(client.serviceUserId);
    if (user === undefined || user.kind !== 'system' || user.tenantId !== client.tenantId) {
      throw new OAuthError(
        'unauthorized_client',
        'the client has no valid service user (a system user of the tenant)',
      );
    }
    if (user.status !== 'enabled')
      throw new OAuthError('unauthorized_client', 'the service user is disabled');
    const ttl = client.accessTokenTtlSeconds ?? this.options.accessTokenTtlSeconds;
    const issued = await this.store.transaction((tx) =>
      this.signAccess(tx, user, client.clientId, client.audiences, scope, ttl, 'api'),
    );
    return { access_token: issued.token, token_type: 'Bearer', expires_in: ttl, scope };
  }

  private async password(client: OAuthClient, form: Form): Promise<TokenResponse> {
    this.requireGrant(client, 'password');
    const username = form.get('username');
    const password = form.get('password');
    if (username === undefined || password === undefined)
      throw new OAuthError('invalid_request', 'username and password are required');
    const user = await this.store.users.credentialsByEmail(username);
    const ok = await this.passwords.verify(user?.passwordHash ?? UNUSABLE_PASSWORD_HASH, password);
    if (user === undefined || !ok || user.tenantId !== client.tenantId)
      throw new OAuthError('invalid_grant', 'wrong username or password');
    if (user.status !== 'enabled') throw new OAuthError('invalid_grant', 'this user is disabled');
    if (user.kind === 'human') {
      throw new OAuthError(
        'invalid_grant',
        'human users sign in through the authorization page, not the token endpoint',
      );
    }
    const scope = this.scopeFor(client, form.get('scope'));
    return (await this.issueWithRefresh(client, user, scope, null)).response;
  }

  private async authorizationCode(client: OAuthClient, form: Form): Promise<TokenResponse> {
    this.requireGrant(client, 'authorization_code');
    const code = form.get('code');
    if (code === undefined) throw new OAuthError('invalid_request', 'code is required');
    const key = hashHex(code);
    const pending = this.codes.get(key);
    if (
      pending === undefined ||
      pending.clientId !== client.clientId ||
      pending.tenantId !== client.tenantId
    ) {
      throw new OAuthError('invalid_grant', 'unknown or expired authorization code');
    }
    if (pending.used) {
      // A replayed code: what it was exchanged for is revoked (RFC 6749 §4.1.2).
      if (pending.issued !== null)
        await this.revokeIssued(pending.userId, pending.issued.tokenId, pending.issued.familyId);
      throw new OAuthError('invalid_grant', 'the authorization code was already used');
    }
    pending.used = true;
    if (pending.expiresAt <= Date.now())
      throw new OAuthError('invalid_grant', 'the authorization code expired');
    if (form.get('redirect_uri') !== pending.redirectUri)
      throw new OAuthError('invalid_grant', 'redirect_uri does not match');
    const verifier = form.get('code_verifier');
    if (pending.challenge !== null) {
      if (verifier === undefined) throw new OAuthError('invalid_grant', 'code_verifier is required');
      if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier))
        throw new OAuthError('invalid_grant', 'malformed code_verifier');
      const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
      if (computed !== pending.challenge) throw new OAuthError('invalid_grant', 'PKCE verification failed');
    } else if (verifier !== undefined) {
      throw new OAuthError('invalid_grant', 'no code_challenge was sent with the authorization request');
    }
    const user = await this.store.users.get(pending.userId);
    if (user === undefined || user.status !== 'enabled')
      throw new OAuthError('invalid_grant', 'the user is gone or disabled');
    const result = await this.issueWithRefresh(client, user, pending.scope, null);
    pending.issued = { tokenId: result.tokenId, familyId: result.familyId };
    return result.response;
  }

  private async refresh(client: OAuthClient, form: Form): Promise<TokenResponse> {
    this.requireGrant(client, 'refresh_token');
    const presented = form.get('refresh_token');
    if (presented === undefined) throw new OAuthError('invalid_request', 'refresh_token is required');
    const record = await this.repository.refresh(hashHex(presented));
    if (record === undefined || record.clientId !== client.clientId || record.tenantId !== client.tenantId) {
      throw new OAuthError('invalid_grant', 'unknown refresh token');
    }
    if (record.revokedAt !== null) throw new OAuthError('invalid_grant', 'the refresh token was revoked');
    if (record.rotatedAt !== null || !(await this.repository.markRotated(record.id))) {
      await this.revokeFamily(record.userId, record.familyId);
      throw new OAuthError(
        'invalid_grant',
        'the refresh token was already used: its whole family is revoked',
      );
    }
    if (new Date(record.expiresAt).getTime() <= Date.now())
      throw new OAuthError('invalid_grant', 'the refresh token expired');
    const scope = this.scopeFor(
      client,
      form.get('scope'),
      record.scope === '' ? [] : record.scope.split(' '),
    );
    const user = await this.store.users.get(record.userId);
    if (user === undefined || user.status !== 'enabled')
      throw new OAuthError('invalid_grant', 'the user is gone or disabled');
    return (await this.issueWithRefresh(client, user, scope, record.familyId)).response;
  }

  /** Human users: one live token (earlier ones are revoked); a refresh token when the client may refresh. */
  private async issueWithRefresh(
    client: OAuthClient,
    user: { id: string; kind: UserKind; tenantId: string | null },
    scope: string,
    familyId: string | null,
  ): Promise<{ response: TokenResponse; tokenId: string; familyId: string | null }> {
    const ttl = client.accessTokenTtlSeconds ?? this.options.accessTokenTtlSeconds;
    const withRefresh = client.grantTypes.has('refresh_token');
    const { issued, revoked, refreshToken, family } = await this.store.transaction(async (tx) => {
      const revoked = user.kind === 'human' ? await tx.tokens.revokeAll(user.id) : [];
      const issued = await this.signAccess(
        tx,
        user,
        client.clientId,
        client.audiences,
        scope,
        ttl,
        user.kind === 'human' ? 'login' : 'api',
      );
      let refreshToken: string | undefined;
      const family = withRefresh ? (familyId ?? randomUUID()) : null;
      if (family !== null) {
        refreshToken = randomToken();
        const repo = new OAuthRepository(tx.db);
        await repo.insertRefresh({
          id: hashHex(refreshToken),
          familyId: family,
          tenantId: client.tenantId,
          clientId: client.clientId,
          userId: user.id,
          scope,
          accessTokenId: issued.tokenId,
          issuedAt: new Date().toISOString(),
          expiresAt: new Date(Date.now() + this.options.refreshTokenTtlSeconds * 1000).toISOString(),
        });
      }
      return { issued, revoked, refreshToken, family };
    });
    if (revoked.length > 0)
      await this.changes.publish({ type: 'tokens.revoked', userId: user.id, tokenIds: revoked });
    const response: TokenResponse = {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: ttl,
      scope,
      ...(refreshToken !== undefined && { refresh_token: refreshToken }),
    };
    return { response, tokenId: issued.tokenId, familyId: family };
  }

  /** Signs an access token and records its `jti` (in the caller's transaction). */
  private async signAccess(
    tx: SqlStore,
    user: { id: string; kind: UserKind; tenantId: string | null },
    clientId: string,
    audiences: readonly string[],
    scope: string,
    ttl: number,
    kind: TokenKind,
    extra: Record<string, string> = {},
  ): Promise<{ token: string; tokenId: string; exp: number }> {
    const iat = nowSeconds();
    const exp = iat + ttl;
    const tokenId = randomUUID();
    const key = this.keys.current;
    const token = await new SignJWT({
      knd: kind,
      ukd: user.kind,
      tid: user.tenantId,
      client_id: clientId,
      scope,
      ...extra,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.tokens.options.issuer)
      .setAudience([
        this.tokens.options.audience,
        ...audiences.filter((a) => a !== this.tokens.options.audience),
      ])
      .setSubject(user.id)
      .setJti(tokenId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key.privateKey);
    await tx.tokens.insert({
      id: tokenId,
      userId: user.id,
      kind,
      issuedAt: new Date(iat * 1000).toISOString(),
      expiresAt: new Date(exp * 1000).toISOString(),
    });
    return { token, tokenId, exp };
  }

  private async revokeFamily(userId: string, familyId: string): Promise<void> {
    const accessIds = await this.repository.revokeFamily(familyId);
    await this.revokeTokens(userId, accessIds);
  }

  private async revokeIssued(userId: string, tokenId: string, familyId: string | null): Promise<void> {
    if (familyId !== null) await this.repository.revokeFamily(familyId);
    await this.revokeTokens(userId, [tokenId]);
  }

  private async revokeTokens(userId: string, tokenIds: string[]): Promise<void> {
    const revoked: string[] = [];
    for (const id of tokenIds) if (await this.store.tokens.revoke(id)) revoked.push(id);
    if (revoked.length > 0) await this.changes.publish({ type: 'tokens.revoked', userId, tokenIds: revoked });
  }

  // ---- the authorization endpoint ------------------------------------------------------------

  /** Checks an authorization request (GET, or the POST of the login form). */
  checkAuthorize(tenantId: string, params: Form, issuer: string): AuthorizeOutcome {
    const client = this.clients.get(tenantId, params.get('client_id') ?? '');
    if (client === undefined) return { kind: 'error-page', status: 400, message: 'unknown client_id' };
    let redirectUri = params.get('redirect_uri');
    if (redirectUri === undefined && client.redirectUris.length === 1) redirectUri = client.redirectUris[0]!;
    if (redirectUri === undefined || !client.redirectUris.includes(redirectUri)) {
      return {
        kind: 'error-page',
        status: 400,
        message: 'redirect_uri is missing or not registered for this client',
      };
    }
    const state = params.get('state') ?? null;
    const responseType = params.get('response_type');
    const fail = (error: string, description: string): AuthorizeOutcome => ({
      kind: 'redirect',
      location: this.redirect(redirectUri, responseType === 'token', {
        error,
        error_description: description,
        state,
        iss: issuer,
      }),
    });
    if (!client.enabled) return fail('unauthorized_client', 'this client is disabled');
    if (responseType === 'code') {
      if (!client.grantTypes.has('authorization_code'))
        return fail('unauthorized_client', 'authorization_code is not enabled for this client');
    } else if (responseType === 'token') {
      if (!client.grantTypes.has('implicit'))
        return fail('unsupported_response_type', 'the implicit grant is not enabled for this client');
    } else {
      return fail('unsupported_response_type', 'response_type must be code');
    }
    const challenge = params.get('code_challenge') ?? null;
    const method = params.get('code_challenge_method');
    if (responseType === 'code') {
      if (challenge === null && client.secretHash === null)
        return fail('invalid_request', 'PKCE (code_challenge, S256) is required for public clients');
      if (challenge !== null && method !== 'S256')
        return fail('invalid_request', 'code_challenge_method must be S256');
      if (challenge !== null && !/^[A-Za-z0-9_-]{43}$/.test(challenge))
        return fail('invalid_request', 'malformed code_challenge');
    }
    let scope: string;
    try {
      scope = this.scopeFor(client, params.get('scope'));
    } catch (err) {
      return fail('invalid_scope', (err as Error).message);
    }
    return {
      kind: 'page',
      request: { client, responseType, redirectUri, scope, state, codeChallenge: challenge },
    };
  }

  /**
   * The login + consent form was posted: a human user of the tenant with the right password who
   * allowed it gets a code (or, implicit, a token); a denial redirects with `access_denied`.
   */
  async completeAuthorize(
    request: AuthorizeRequest,
    issuer: string,
    decision: { allow: boolean; email: string; password: string },
  ): Promise<{ location: string } | { loginError: string }> {
    const { client, redirectUri, state } = request;
    const implicit = request.responseType === 'token';
    if (!decision.allow) {
      return {
        location: this.redirect(redirectUri, implicit, {
          error: 'access_denied',
          error_description: 'the user denied the request',
          state,
          iss: issuer,
        }),
      };
    }
    const user = await this.store.users.credentialsByEmail(decision.email);
    const ok = await this.passwords.verify(user?.passwordHash ?? UNUSABLE_PASSWORD_HASH, decision.password);
    if (user === undefined || !ok || user.tenantId !== client.tenantId)
      return { loginError: 'wrong email or password' };
    if (user.status !== 'enabled') return { loginError: 'this user is disabled' };
    if (user.kind !== 'human')
      return { loginError: 'system users obtain tokens at the token endpoint, not here' };
    if (implicit) {
      const ttl = client.accessTokenTtlSeconds ?? this.options.accessTokenTtlSeconds;
      const { issued, revoked } = await this.store.transaction(async (tx) => {
        const revoked = await tx.tokens.revokeAll(user.id);
        return {
          issued: await this.signAccess(
            tx,
            user,
            client.clientId,
            client.audiences,
            request.scope,
            ttl,
            'login',
          ),
          revoked,
        };
      });
      if (revoked.length > 0)
        await this.changes.publish({ type: 'tokens.revoked', userId: user.id, tokenIds: revoked });
      return {
        location: this.redirect(redirectUri, true, {
          access_token: issued.token,
          token_type: 'Bearer',
          expires_in: String(ttl),
          scope: request.scope,
          state,
          iss: issuer,
        }),
      };
    }
    const code = randomToken();
    this.codes.set(hashHex(code), {
      clientId: client.clientId,
      tenantId: client.tenantId,
      userId: user.id,
      redirectUri,
      challenge: request.codeChallenge,
      scope: request.scope,
      expiresAt: Date.now() + this.options.codeTtlSeconds * 1000,
      used: false,
      issued: null,
    });
    return { location: this.redirect(redirectUri, false, { code, state, iss: issuer }) };
  }

  private redirect(uri: string, fragment: boolean, params: Record<string, string | null>): string {
    const url = new URL(uri);
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null) p.set(k, v);
    if (fragment) url.hash = p.toString();
    else for (const [k, v] of p) url.searchParams.set(k, v);
    return url.toString();
  }

  // ---- revocation and introspection ----------------------------------------------------------

  /** RFC 7009: always succeeds for unknown tokens; a client revokes only its own tokens. */
  async revoke(tenantId: string, form: Form, authorization: string | undefined): Promise<void> {
    const client = this.authenticateClient(tenantId, form, authorization);
    const token = form.get('token');
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required');
    if (looksLikeJwt(token)) {
      const claims = await this.tokens.verify(token);
      if (claims === null) return;
      const payload = decodeJwt(token);
      if (payload.client_id !== client.clientId || claims.tenantId !== tenantId) return;
      await this.revokeTokens(claims.userId, [claims.tokenId]);
      return;
    }
    const record = await this.repository.refresh(hashHex(token));
    if (record === undefined || record.clientId !== client.clientId || record.tenantId !== tenantId) return;
    await this.revokeFamily(record.userId, record.familyId);
  }

  /** RFC 7662: a confidential client of the tenant asks; anything not valid is `{active: false}`. */
  async introspect(
    tenantId: string,
    form: Form,
    authorization: string | undefined,
    issuer: string,
  ): Promise<Record<string, unknown>> {
    this.authenticateClient(tenantId, form, authorization, true);
    const token = form.get('token');
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required');
    const inactive = { active: false };
    if (looksLikeJwt(token)) {
      const claims = await this.tokens.verify(token);
      if (claims === null || claims.tenantId !== tenantId) return inactive;
      const p = decodeJwt(token);
      return {
        active: true,
        scope: typeof p.scope === 'string' ? p.scope : '',
        client_id: typeof p.client_id === 'string' ? p.client_id : undefined,
        token_type: 'Bearer',
        exp: p.exp,
        iat: p.iat,
        sub: p.sub,
        aud: p.aud,
        iss: p.iss,
        jti: p.jti,
        authorization_server: issuer,
      };
    }
    const record = await this.repository.refresh(hashHex(token));
    if (
      record === undefined ||
      record.tenantId !== tenantId ||
      record.revokedAt !== null ||
      record.rotatedAt !== null ||
      new Date(record.expiresAt).getTime() <= Date.now()
    ) {
      return inactive;
    }
    return {
      active: true,
      scope: record.scope,
      client_id: record.clientId,
      token_type: 'refresh_token',
      sub: record.userId,
      exp: Math.floor(new Date(record.expiresAt).getTime() / 1000),
      iat: Math.floor(new Date(record.issuedAt).getTime() / 1000),
    };
  }

  // ---- personal access tokens ----------------------------------------------------------------

  async createPat(
    userId: string,
    input: { name: string; scopes: string[]; expiresInDays: number },
  ): Promise<CreatedPat> {
    for (const s of input.scopes)
      if (!SCOPE_TOKEN.test(s)) throw new OAuthError('invalid_scope', `"${s}" is not a valid scope token`);
    if (input.expiresInDays < 1 || input.expiresInDays > this.options.maxPatDays) {
      throw new OAuthError('invalid_request', `expiresInDays must be 1..${this.options.maxPatDays}`);
    }
    const id = randomUUID();
    const secret = randomToken();
    const record = {
      id,
      userId,
      name: input.name,
      scope: [...new Set(input.scopes)].join(' '),
      secretHash: hashHex(secret),
      createdAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + input.expiresInDays * 86_400_000).toISOString(),
    };
    await this.repository.insertPat(record);
    return { token: `${PAT_PREFIX}${id}.${secret}`, pat: patView({ ...record, revokedAt: null }) };
  }

  async listPats(userId: string): Promise<PatView[]> {
    return (await this.repository.patsOf(userId)).map(patView);
  }

  async revokePat(userId: string, patId: string): Promise<boolean> {
    const done = await this.repository.revokePat(userId, patId);
    const derived: string[] = [];
    for (const [text, t] of this.patTokens) {
      if (t.patId === patId) {
        this.patTokens.delete(text);
        derived.push(t.tokenId);
      }
    }
    await this.revokeTokens(userId, derived);
    return done;
  }

  /**
   * A PAT exchanged for a short-lived access token (cached until shortly before it expires);
   * null when the PAT is unknown, wrong, revoked, expired or its user disabled.
   */
  async exchangePat(text: string): Promise<string | null> {
    const cached = this.patTokens.get(text);
    // The derived token may have been revoked meanwhile (e.g. a human's new login revokes all their
    // tokens): TokenService answers from its cache, which revocations clear at once.
    if (
      cached !== undefined &&
      cached.exp - 5 > nowSeconds() &&
      (await this.tokens.verify(cached.token)) !== null
    ) {
      return cached.token;
    }
    const m = /^omap_pat_([0-9a-f-]{36})\.([\w-]{43})$/.exec(text);
    if (m === null) return null;
    const pat = await this.repository.pat(m[1]!);
    if (pat === undefined || pat.revokedAt !== null) return null;
    if (!timingSafeEqual(Buffer.from(pat.secretHash, 'hex'), Buffer.from(hashHex(m[2]!), 'hex'))) return null;
    const patExp = Math.floor(new Date(pat.expiresAt).getTime() / 1000);
    const ttl = Math.min(this.options.patAccessTokenTtlSeconds, patExp - nowSeconds());
    if (ttl <= 0) return null;
    const user = await this.store.users.get(pat.userId);
    if (user === undefined || user.status !== 'enabled') return null;
    const issued = await this.store.transaction((tx) =>
      this.signAccess(tx, user, 'pat', [], pat.scope, ttl, 'api', { pat: pat.id }),
    );
    this.patTokens.set(text, {
      token: issued.token,
      tokenId: issued.tokenId,
      patId: pat.id,
      exp: issued.exp,
    });
    return issued.token;
  }
}
