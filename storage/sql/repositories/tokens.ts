/** Issued tokens by their `jti`, so that revocation (logout, a new human login) can be checked. */
import type { Kysely, Selectable } from 'kysely';
import type { Database, TokenKind, TokensTable } from '../schema.js';
import { iso, isoOrNull, now } from '../values.js';

export interface TokenRecord {
  id: string;
  userId: string;
  kind: TokenKind;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

function toToken(row: Selectable<TokensTable>): TokenRecord {
  return {
    id: row.id,
    userId: row.user_id,
    kind: row.kind,
    issuedAt: iso(row.issued_at),
    expiresAt: iso(row.expires_at),
    revokedAt: isoOrNull(row.revoked_at),
  };
}

export class TokensRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(t: Omit<TokenRecord, 'revokedAt'>): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        id: t.id,
        user_id: t.userId,
        kind: t.kind,
        issued_at: t.issuedAt,
        expires_at: t.expiresAt,
        revoked_at: null,
      })
      .execute();
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toToken(row);
  }

  /** The user's tokens that are neither revoked nor expired. */
  async active(userId: string): Promise<TokenRecord[]> {
    const rows = await this.db
      .selectFrom('tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now())
      .orderBy('issued_at')
      .execute();
    return rows.map(toToken);
  }

  async revoke(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('tokens')
      .set({ revoked_at: now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Revokes every live token of the user; returns their ids. */
  async revokeAll(userId: string): Promise<string[]> {
    const live = await this.active(userId);
    if (live.length === 0) return [];
    const ids = live.map((t) => t.id);
    await this.db.updateTable('tokens').set({ revoked_at: now() }).where('id', 'in', ids).execute();
    return ids;
  }

  /** Forgets tokens that expired before `before` (housekeeping). */
  async purgeExpired(before: string): Promise<number> {
    const r = await this.db.deleteFrom('tokens').where('expires_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
