/**
 * Device provisioning: registration keys (per organization node; the id half hashed, the secret half
 * encrypted at rest) and the devices registered with them (one thing per serial and node).
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Engine } from '../engine.js';

// biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on the latest typed schema
type AnyDb = Kysely<any>;

export function provisioningMigration(engine: Engine): Migration {
  const ts = engine === 'postgres' ? 'timestamptz' : 'text';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('provisioning_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('restrict'))
        .addColumn('node_path', 'text', (c) => c.notNull())
        .addColumn('lineage_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('id_hash', 'text', (c) => c.notNull().unique())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('expires_at', ts)
        .addColumn('max_devices', 'integer')
        .addColumn('serial_pattern', 'text')
        .addColumn('channel_mode', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text')
        .addColumn('channel_name', 'text')
        .addColumn('replaced_by', 'text')
        .addColumn('revoked_at', ts)
        .addColumn('created_at', ts, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('updated_at', ts, (c) => c.notNull())
        .addColumn('updated_by', 'text')
        .execute();
      await db.schema
        .createIndex('provisioning_keys_node')
        .on('provisioning_keys')
        .column('node_id')
        .execute();
      await db.schema
        .createTable('provisioned_devices')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('serial', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('thing_id', 'text', (c) =>
          c.notNull().unique().references('things.id').onDelete('cascade'),
        )
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('lineage_id', 'text', (c) => c.notNull())
        .addColumn('registered_at', ts, (c) => c.notNull())
        .addColumn('updated_at', ts, (c) => c.notNull())
        .addColumn('remote_address', 'text')
        .addPrimaryKeyConstraint('provisioned_devices_pk', ['node_id', 'serial'])
        .execute();
      await db.schema
        .createIndex('provisioned_devices_lineage')
        .on('provisioned_devices')
        .column('lineage_id')
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('provisioned_devices').execute();
      await db.schema.dropTable('provisioning_keys').execute();
    },
  };
}
