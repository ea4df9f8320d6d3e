/**
 * OAuth refresh tokens and personal access tokens. The table types live here (not in schema.ts)
 * so the OAuth tables stay self-contained; the repository runs on the store's Kysely instance.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, Timestamp } from '../schema.js';
import { iso, isoOrNull, now } from '../values.js';

export interface OAuthRefreshTokensTable {
  id: string;
  family_id: string;
  tenant_id: string;
  client_id: string;
  user_id: string;
  scope: string;
  access_token_id: string | null;
  issued_at: Timestamp;
  expires_at: Timestamp;
  rotated_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface OAuthPatsTable {
  id: string;
  user_id: string;
  name: string;
  scope: string;
  secret_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface OAuthDatabase extends Database {
  oauth_refresh_tokens: OAuthRefreshTokensTable;
  oauth_pats: OAuthPatsTable;
}

export interface RefreshTokenRecord {
  id: string;
  familyId: string;
  tenantId: string;
  clientId: string;
  userId: string;
  scope: string;
  accessTokenId: string | null;
  issuedAt: string;
  expiresAt: string;
  rotatedAt: string | null;
  revokedAt: string | null;
}

export interface PatRecord {
  id: string;
  userId: string;
  name: string;
  scope: string;
  secretHash: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

function toRefresh(r: Selectable<OAuthRefreshTokensTable>): RefreshTokenRecord {
  return {
    id: r.id,
    familyId: r.family_id,
    tenantId: r.tenant_id,
    clientId: r.client_id,
    userId: r.user_id,
    scope: r.scope,
    accessTokenId: r.access_token_id,
    issuedAt: iso(r.issued_at),
    expiresAt: iso(r.expires_at),
    rotatedAt: isoOrNull(r.rotated_at),
    revokedAt: isoOrNull(r.revoked_at),
  };
}

function toPat(r: Selectable<OAuthPatsTable>): PatRecord {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    scope: r.scope,
    secretHash: r.secret_hash,
    createdAt: iso(r.created_at),
    expiresAt: iso(r.expires_at),
    revokedAt: isoOrNull(r.revoked_at),
  };
}

export class OAuthRepository {
  private readonly db: Kysely<OAuthDatabase>;

  constructor(db: Kysely<Database>) {
    this.db = db as unknown as Kysely<OAuthDatabase>;
  }

  async insertRefresh(t: Omit<RefreshTokenRecord, 'rotatedAt' | 'revokedAt'>): Promise<void> {
    await this.db
      .insertInto('oauth_refresh_tokens')
      .values({
        id: t.id,
        family_id: t.familyId,
        tenant_id: t.tenantId,
        client_id: t.clientId,
        user_id: t.userId,
        scope: t.scope,
        access_token_id: t.accessTokenId,
        issued_at: t.issuedAt,
        expires_at: t.expiresAt,
        rotated_at: null,
        revoked_at: null,
      })
      .execute();
  }

  async refresh(id: string): Promise<RefreshTokenRecord | undefined> {
    const row = await this.db
      .selectFrom('oauth_refresh_tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRefresh(row);
  }

  /** Marks a refresh token as used; false when it already was (a concurrent or replayed use). */
  async markRotated(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('oauth_refresh_tokens')
      .set({ rotated_at: now() })
      .where('id', '=', id)
      .where('rotated_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Revokes a whole family; returns the access-token ids issued with its members. */
  async revokeFamily(familyId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('oauth_refresh_tokens')
      .select('access_token_id')
      .where('family_id', '=', familyId)
      .execute();
    await this.db
      .updateTable('oauth_refresh_tokens')
      .set({ revoked_at: now() })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
    return rows.map((r) => r.access_token_id).filter((id): id is string => id !== null);
  }

  async insertPat(p: Omit<PatRecord, 'revokedAt'>): Promise<void> {
    await this.db
      .insertInto('oauth_pats')
      .values({
        id: p.id,
        user_id: p.userId,
        name: p.name,
        scope: p.scope,
        secret_hash: p.secretHash,
        created_at: p.createdAt,
        expires_at: p.expiresAt,
        revoked_at: null,
      })
      .execute();
  }

  async pat(id: string): Promise<PatRecord | undefined> {
    const row = await this.db.selectFrom('oauth_pats').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toPat(row);
  }

  async patsOf(userId: string): Promise<PatRecord[]> {
    const rows = await this.db
      .selectFrom('oauth_pats')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
    return rows.map(toPat);
  }

  async revokePat(userId: string, id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('oauth_pats')
      .set({ revoked_at: now() })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
