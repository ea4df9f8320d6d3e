/**
 * The management store: every repository over one database, plus transactions. Services take a
 * `SqlStore`; inside `transaction(fn)` they get another `SqlStore` whose repositories run on the
 * transaction's connection (SQLite has one connection: never use the outer store inside `fn`).
 */
import type { Kysely } from 'kysely';
import { type Engine, openSqlDatabase, type SqlDatabaseOptions } from './engine.js';
import { migrateToLatest } from './migrations/index.js';
import { AssetsRepository } from './repositories/assets.js';
import { AuditLogRepository } from './repositories/audit-log.js';
import { ChannelsRepository } from './repositories/channels.js';
import { ConnectionsRepository } from './repositories/connections.js';
import { KeysRepository, SettingsRepository } from './repositories/keys.js';
import { NodesRepository } from './repositories/nodes.js';
import { RolesRepository } from './repositories/roles.js';
import { ThingsRepository } from './repositories/things.js';
import { TokensRepository } from './repositories/tokens.js';
import { UsersRepository } from './repositories/users.js';
import type { Database } from './schema.js';

export class SqlStore {
  readonly nodes: NodesRepository;
  readonly users: UsersRepository;
  readonly roles: RolesRepository;
  readonly things: ThingsRepository;
  readonly channels: ChannelsRepository;
  readonly connections: ConnectionsRepository;
  readonly assets: AssetsRepository;
  readonly tokens: TokensRepository;
  readonly audit: AuditLogRepository;
  readonly keys: KeysRepository;
  readonly settings: SettingsRepository;

  constructor(
    readonly db: Kysely<Database>,
    readonly engine: Engine,
    private readonly closeDatabase: () => Promise<void> = async () => {},
  ) {
    this.nodes = new NodesRepository(db, engine);
    this.users = new UsersRepository(db, engine);
    this.roles = new RolesRepository(db);
    this.things = new ThingsRepository(db, engine);
    this.channels = new ChannelsRepository(db, engine);
    this.connections = new ConnectionsRepository(db);
    this.assets = new AssetsRepository(db, engine);
    this.tokens = new TokensRepository(db);
    this.audit = new AuditLogRepository(db);
    this.keys = new KeysRepository(db);
    this.settings = new SettingsRepository(db);
  }

  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (store: SqlStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new SqlStore(trx, this.engine)));
  }

  close(): Promise<void> {
    return this.closeDatabase();
  }
}

/** Opens the database on its engine and migrates it to the latest version. */
export async function openSqlStore(options: SqlDatabaseOptions = {}): Promise<SqlStore> {
  const { db, engine, close } = await openSqlDatabase(options);
  try {
    await migrateToLatest(db, engine);
  } catch (err) {
    await close();
    throw err;
  }
  return new SqlStore(db, engine, close);
}
