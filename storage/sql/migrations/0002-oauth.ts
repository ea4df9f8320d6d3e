/**
 * OAuth 2.0: refresh tokens (rotated, grouped in families so that a reused one revokes the whole
 * family) and personal access tokens (named, scoped, expiring, revocable; only a hash is stored).
 * Authorization codes live in memory (single-use, 60 s); clients come from configuration files.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Engine } from '../engine.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on the latest typed schema
type AnyDb = Kysely<any>;

export function oauthMigration(engine: Engine): Migration {
  const ts = engine === 'postgres' ? 'timestamptz' : 'text';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('oauth_refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey()) // SHA-256 of the token, hex
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('access_token_id', 'text')
        .addColumn('issued_at', ts, (c) => c.notNull())
        .addColumn('expires_at', ts, (c) => c.notNull())
        .addColumn('rotated_at', ts)
        .addColumn('revoked_at', ts)
        .execute();
      await db.schema
        .createIndex('oauth_refresh_tokens_family')
        .on('oauth_refresh_tokens')
        .column('family_id')
        .execute();
      await db.schema
        .createTable('oauth_pats')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('expires_at', ts, (c) => c.notNull())
        .addColumn('revoked_at', ts)
        .addUniqueConstraint('oauth_pats_user_name', ['user_id', 'name'])
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('oauth_pats').execute();
      await db.schema.dropTable('oauth_refresh_tokens').execute();
    },
  };
}
