/**
 * Opens the management database on one of the two engines: SQLite through better-sqlite3 (a file in
 * the data folder, the embedded default) or PostgreSQL through `pg` (production, `OMAP_DATABASE_URL`).
 * Everything above this file sees one `Kysely<Database>` and asks `engine` only where the SQL of the
 * two differs (JSON containment, a few column types in the migrations).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Engine = 'sqlite' | 'postgres';

export interface SqlDatabaseOptions {
  /** `postgres://…` selects PostgreSQL; absent selects SQLite in `file`. */
  url?: string;
  /** SQLite database file (its folder is created), or `:memory:`. Default `./data/omap.db`. */
  file?: string;
  /**
   * PostgreSQL schema to live in (created when missing; the connections' search_path). Lets several
   * installations, or test files running in parallel, share one database. Default: the server's.
   */
  schema?: string;
  /** PostgreSQL pool size. Default 10. */
  poolSize?: number;
}

export interface SqlDatabase {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  close(): Promise<void>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openSqlDatabase(options: SqlDatabaseOptions = {}): Promise<SqlDatabase> {
  if (options.url !== undefined && options.url !== '') return openPostgres(options.url, options);
  return openSqlite(options.file ?? './data/omap.db');
}

function openSqlite(file: string): SqlDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return { db, engine: 'sqlite', close: () => db.destroy() };
}

async function openPostgres(url: string, options: SqlDatabaseOptions): Promise<SqlDatabase> {
  const schema = options.schema;
  const poolConfig: pg.PoolConfig = { connectionString: url, max: options.poolSize ?? 10 };
  if (schema !== undefined) {
    if (!SCHEMA_NAME.test(schema)) throw new RangeError(`invalid PostgreSQL schema name "${schema}"`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } finally {
      await client.end();
    }
    poolConfig.options = `-c search_path=${schema}`;
  }
  const pool = new pg.Pool(poolConfig);
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, engine: 'postgres', close: () => db.destroy() };
}
