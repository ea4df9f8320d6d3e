/**
 * Runs a suite on every storage engine: `openTestStore('sqlite' | 'postgres', name)` gives a
 * migrated, empty store of its own (a temp SQLite file, or a fresh PostgreSQL schema) and a close
 * that removes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../../storage/sql/engine.js';
import { openSqlStore, type SqlStore } from '../../storage/sql/store.js';
import { acquirePostgres, dropSchema, testSchema } from './pg-server.js';

export const ENGINES: readonly Engine[] = ['sqlite', 'postgres'];

export interface TestStore {
  store: SqlStore;
  close(): Promise<void>;
}

export async function openTestStore(engine: Engine, name: string): Promise<TestStore> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'omap-sqlite-'));
    const store = await openSqlStore({ file: join(dir, 'omap.db') });
    return {
      store,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const server = await acquirePostgres();
  const schema = testSchema(name);
  try {
    const store = await openSqlStore({ url: server.url, schema, poolSize: 4 });
    return {
      store,
      async close() {
        await store.close();
        await dropSchema(server.url, schema);
        await server.release();
      },
    };
  } catch (err) {
    await server.release();
    throw err;
  }
}
