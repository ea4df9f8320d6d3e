/**
 * The versioned migrations of the management database, provided in code (no files to find at run
 * time, so they survive bundling and `dist/`). Names sort in the order they apply; a released
 * migration is never edited, a change is a new one.
 */
import type { Kysely } from 'kysely';
import { type Migration, type MigrationResult, Migrator } from 'kysely/migration';
import type { Engine } from '../engine.js';
import type { Database } from '../schema.js';
import { managementMigration } from './0001-management.js';
import { oauthMigration } from './0002-oauth.js';
import { provisioningMigration } from './0003-provisioning.js';

export function migrations(engine: Engine): Record<string, Migration> {
  return {
    '0001-management': managementMigration(engine),
    '0002-oauth': oauthMigration(engine),
    '0003-provisioning': provisioningMigration(engine),
  };
}

/** Brings the database to the latest version; throws (with the failing migration's name) on error. */
export async function migrateToLatest(db: Kysely<Database>, engine: Engine): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(engine) },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`, {
      cause: error,
    });
  }
  return results ?? [];
}
