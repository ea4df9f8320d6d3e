/**
 * The management model: organization tree, users and their grants, things, channels, connections,
 * assets and their shares, tokens, the audit log, signing keys and settings.
 *
 * Written once for both engines; only the column types for timestamps and JSON differ (timestamptz
 * and jsonb on PostgreSQL, ISO-8601 and JSON text on SQLite) and the audit log's generated key.
 */
import type { CreateTableBuilder, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Engine } from '../engine.js';

// Kysely's migrations must accept any database (`Kysely<any>`): the typed schema describes the
// *latest* state, which a migration must not depend on.
// biome-ignore lint/suspicious/noExplicitAny: see above
type AnyDb = Kysely<any>;

export function managementMigration(engine: Engine): Migration {
  const ts = engine === 'postgres' ? 'timestamptz' : 'text';
  const json = engine === 'postgres' ? 'jsonb' : 'text';

  /** version + created/updated at/by, on every editable entity. */
  const audited = (t: CreateTableBuilder<string, string>): CreateTableBuilder<string, string> =>
    t
      .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_at', ts, (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('updated_at', ts, (c) => c.notNull())
      .addColumn('updated_by', 'text');

  return {
    async up(db: AnyDb): Promise<void> {
      await audited(
        db.schema
          .createTable('nodes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('parent_id', 'text', (c) => c.references('nodes.id').onDelete('restrict'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('metadata', json, (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull().unique()),
      ).execute();
      await db.schema.createIndex('nodes_tenant').on('nodes').column('tenant_id').execute();
      await db.schema.createIndex('nodes_parent').on('nodes').column('parent_id').execute();

      await audited(
        db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('tenant_id', 'text', (c) => c.references('nodes.id').onDelete('restrict'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('profile', json, (c) => c.notNull()),
      ).execute();
      await db.schema.createIndex('users_tenant').on('users').column('tenant_id').execute();

      await db.schema
        .createTable('memberships')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addPrimaryKeyConstraint('memberships_pk', ['user_id', 'node_id'])
        .execute();
      await db.schema.createIndex('memberships_node').on('memberships').column('node_id').execute();

      await audited(
        db.schema
          .createTable('roles')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('tenant_id', 'text')
          .addColumn('node_id', 'text', (c) => c.references('nodes.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0)),
      ).execute();
      await db.schema.createIndex('roles_node').on('roles').columns(['node_id', 'name']).execute();

      await db.schema
        .createTable('role_permissions')
        .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
        .addColumn('permission', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('role_permissions_pk', ['role_id', 'permission'])
        .execute();

      await db.schema
        .createTable('user_roles')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addPrimaryKeyConstraint('user_roles_pk', ['user_id', 'role_id'])
        .execute();
      await db.schema.createIndex('user_roles_role').on('user_roles').column('role_id').execute();

      await db.schema
        .createTable('user_permissions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('permission', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.references('nodes.id').onDelete('cascade'))
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .execute();
      await db.schema
        .createIndex('user_permissions_user')
        .on('user_permissions')
        .columns(['user_id', 'permission'])
        .execute();

      await audited(
        db.schema
          .createTable('things')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('restrict'))
          .addColumn('node_path', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('metadata', json, (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('status', 'text', (c) => c.notNull()),
      ).execute();
      await db.schema.createIndex('things_node_path').on('things').column('node_path').execute();

      await audited(
        db.schema
          .createTable('channels')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('restrict'))
          .addColumn('node_path', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('metadata', json, (c) => c.notNull())
          .addColumn('strict_senml', 'integer', (c) => c.notNull().defaultTo(0)),
      ).execute();
      await db.schema.createIndex('channels_node_path').on('channels').column('node_path').execute();

      await db.schema
        .createTable('connections')
        .addColumn('thing_id', 'text', (c) => c.notNull().references('things.id').onDelete('cascade'))
        .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id').onDelete('cascade'))
        .addColumn('can_publish', 'integer', (c) => c.notNull())
        .addColumn('can_subscribe', 'integer', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addPrimaryKeyConstraint('connections_pk', ['thing_id', 'channel_id'])
        .execute();
      await db.schema.createIndex('connections_channel').on('connections').column('channel_id').execute();

      await audited(
        db.schema
          .createTable('assets')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('restrict'))
          .addColumn('node_path', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('properties', json, (c) => c.notNull())
          .addColumn('metadata', json, (c) => c.notNull()),
      ).execute();
      await db.schema.createIndex('assets_node_path').on('assets').column('node_path').execute();

      await db.schema
        .createTable('asset_channels')
        .addColumn('asset_id', 'text', (c) => c.notNull().references('assets.id').onDelete('cascade'))
        .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('asset_channels_pk', ['asset_id', 'channel_id'])
        .execute();
      await db.schema
        .createIndex('asset_channels_channel')
        .on('asset_channels')
        .column('channel_id')
        .execute();

      await db.schema
        .createTable('asset_shares')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('asset_id', 'text', (c) => c.notNull().references('assets.id').onDelete('cascade'))
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addUniqueConstraint('asset_shares_asset_node', ['asset_id', 'node_id'])
        .execute();
      await db.schema.createIndex('asset_shares_node').on('asset_shares').column('node_id').execute();

      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('issued_at', ts, (c) => c.notNull())
        .addColumn('expires_at', ts, (c) => c.notNull())
        .addColumn('revoked_at', ts)
        .execute();
      await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();

      let auditLog = db.schema.createTable('audit_log');
      auditLog =
        engine === 'postgres'
          ? auditLog.addColumn('id', 'bigserial', (c) => c.primaryKey())
          : auditLog.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
      await auditLog
        .addColumn('at', ts, (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('tenant_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('entity_type', 'text', (c) => c.notNull())
        .addColumn('entity_id', 'text', (c) => c.notNull())
        .addColumn('details', json, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_tenant').on('audit_log').columns(['tenant_id', 'id']).execute();
      await db.schema.createIndex('audit_log_entity').on('audit_log').columns(['entity_id', 'id']).execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('retired_at', ts)
        .execute();

      await db.schema
        .createTable('settings')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      for (const table of [
        'settings',
        'signing_keys',
        'audit_log',
        'tokens',
        'asset_shares',
        'asset_channels',
        'assets',
        'connections',
        'channels',
        'things',
        'user_permissions',
        'user_roles',
        'role_permissions',
        'roles',
        'memberships',
        'users',
        'nodes',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
