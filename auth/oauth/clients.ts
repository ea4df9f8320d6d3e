/**
 * OAuth clients: their definition (as written in `*.config.json` files or passed in options), the
 * parser that checks a definition, and the registry the authorization server looks clients up in.
 * Clients are grouped by source (a file path, or `options`): replacing a source replaces all of
 * its clients at once, removing it removes them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  'implicit',
] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** A scope token: printable ASCII without space, `"` or `\` (RFC 6749 §3.3). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export interface OAuthClient {
  readonly clientId: string;
  readonly tenantId: string;
  readonly name: string;
  /** SHA-256 of the secret; null: a public client (PKCE S256 required, no client_credentials). */
  readonly secretHash: Buffer | null;
  readonly grantTypes: ReadonlySet<GrantType>;
  readonly redirectUris: readonly string[];
  /** The scopes the client may ask for; an empty list allows none. */
  readonly scopes: readonly string[];
  /** Audiences added to `aud` of the client's access tokens. */
  readonly audiences: readonly string[];
  /** The system user a client_credentials token acts as. */
  readonly serviceUserId: string | null;
  readonly enabled: boolean;
  readonly accessTokenTtlSeconds: number | null;
  readonly source: string;
}

/** One client as written in a configuration file. */
export interface ClientDefinition {
  clientId: string;
  name?: string;
  /** Plain secret (hashed on load) — or `secretSha256` (hex). Neither: a public client. */
  secret?: string;
  secretSha256?: string;
  grantTypes: GrantType[];
  redirectUris?: string[];
  scopes?: string[];
  audiences?: string[];
  serviceUserId?: string;
  enabled?: boolean;
  accessTokenTtlSeconds?: number;
}

/** A configuration file: the tenant (node id) and its clients. */
export interface ClientFile {
  tenant: string;
  clients: ClientDefinition[];
}

export class ClientConfigError extends Error {}

function fail(message: string): never {
  throw new ClientConfigError(message);
}

function stringArray(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    fail(`${where} must be an array of non-empty strings`);
  }
  return value as string[];
}

/** Checks a parsed configuration file; throws ClientConfigError with the reason. */
export function parseClientFile(
  value: unknown,
  source: string,
): { tenantId: string; clients: OAuthClient[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('the file must hold a JSON object');
  const file = value as Record<string, unknown>;
  if (typeof file.tenant !== 'string' || file.tenant === '') fail('"tenant" must be a non-empty string');
  if (!Array.isArray(file.clients)) fail('"clients" must be an array');
  const tenantId = file.tenant;
  const seen = new Set<string>();
  const clients = file.clients.map((raw, i): OAuthClient => {
    const where = `clients[${i}]`;
    if (typeof raw !== 'object' || raw === null) fail(`${where} must be an object`);
    const c = raw as Record<string, unknown>;
    if (typeof c.clientId !== 'string' || !/^[\w.~-]{1,128}$/.test(c.clientId)) {
      fail(`${where}.clientId must be 1-128 characters of [A-Za-z0-9._~-]`);
    }
    if (seen.has(c.clientId)) fail(`${where}.clientId "${c.clientId}" appears twice`);
    seen.add(c.clientId);
    const grants = stringArray(c.grantTypes, `${where}.grantTypes`);
    for (const g of grants) {
      if (!(GRANT_TYPES as readonly string[]).includes(g)) fail(`${where}.grantTypes: unknown grant "${g}"`);
    }
    let secretHash: Buffer | null = null;
    if (c.secret !== undefined) {
      if (typeof c.secret !== 'string' || c.secret.length < 16)
        fail(`${where}.secret must be ≥ 16 characters`);
      secretHash = sha256(c.secret);
    } else if (c.secretSha256 !== undefined) {
      if (typeof c.secretSha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(c.secretSha256)) {
        fail(`${where}.secretSha256 must be 64 hex digits`);
      }
      secretHash = Buffer.from(c.secretSha256, 'hex');
    }
    if (secretHash === null && (grants.includes('client_credentials') || grants.includes('password'))) {
      fail(`${where}: a public client (no secret) cannot use client_credentials or password`);
    }
    const redirectUris = stringArray(c.redirectUris, `${where}.redirectUris`);
    for (const uri of redirectUris) {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        fail(`${where}.redirectUris: "${uri}" is not an absolute URL`);
      }
      if (url.hash !== '') fail(`${where}.redirectUris: "${uri}" must not have a fragment`);
    }
    if ((grants.includes('authorization_code') || grants.includes('implicit')) && redirectUris.length === 0) {
      fail(`${where}: authorization_code and implicit need redirectUris`);
    }
    const scopes = stringArray(c.scopes, `${where}.scopes`);
    for (const s of scopes)
      if (!SCOPE_TOKEN.test(s)) fail(`${where}.scopes: "${s}" is not a valid scope token`);
    const audiences = stringArray(c.audiences, `${where}.audiences`);
    if (c.serviceUserId !== undefined && typeof c.serviceUserId !== 'string') {
      fail(`${where}.serviceUserId must be a string`);
    }
    if (grants.includes('client_credentials') && c.serviceUserId === undefined) {
      fail(`${where}: client_credentials needs serviceUserId (the system user its tokens act as)`);
    }
    if (c.enabled !== undefined && typeof c.enabled !== 'boolean') fail(`${where}.enabled must be a boolean`);
    const ttl = c.accessTokenTtlSeconds;
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > 86_400)) {
      fail(`${where}.accessTokenTtlSeconds must be an integer 1..86400`);
    }
    return {
      clientId: c.clientId,
      tenantId,
      name: typeof c.name === 'string' ? c.name : c.clientId,
      secretHash,
      grantTypes: new Set(grants as GrantType[]),
      redirectUris,
      scopes,
      audiences,
      serviceUserId: (c.serviceUserId as string | undefined) ?? null,
      enabled: c.enabled !== false,
      accessTokenTtlSeconds: (ttl as number | undefined) ?? null,
      source,
    };
  });
  return { tenantId, clients };
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time check of a presented secret against a client's hash. */
export function secretMatches(client: OAuthClient, secret: string): boolean {
  if (client.secretHash === null) return false;
  return timingSafeEqual(sha256(secret), client.secretHash);
}

export class ClientRegistry {
  private readonly sources = new Map<string, { tenantId: string; clients: OAuthClient[] }>();
  private index = new Map<string, OAuthClient>();

  /** Replaces the clients of a source. */
  set(source: string, tenantId: string, clients: OAuthClient[]): void {
    this.sources.set(source, { tenantId, clients });
    this.rebuild();
  }

  /** Removes the clients of a source; false when it had none. */
  remove(source: string): boolean {
    const had = this.sources.delete(source);
    if (had) this.rebuild();
    return had;
  }

  get(tenantId: string, clientId: string): OAuthClient | undefined {
    return this.index.get(`${tenantId}\u0000${clientId}`);
  }

  /** Every client of a tenant. */
  ofTenant(tenantId: string): OAuthClient[] {
    return [...this.index.values()].filter((c) => c.tenantId === tenantId);
  }

  private rebuild(): void {
    const next = new Map<string, OAuthClient>();
    // Sources in insertion order; a later source overrides an earlier one's client of the same id.
    for (const { clients } of this.sources.values()) {
      for (const c of clients) next.set(`${c.tenantId}\u0000${c.clientId}`, c);
    }
    this.index = next;
  }
}
