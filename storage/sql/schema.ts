/**
 * The management database as Kysely sees it: one interface per table, columns in snake_case as they
 * are in SQL. The same tables exist on SQLite and PostgreSQL; where the engines store a value
 * differently the column type says what each returns (PostgreSQL hands back `Date` for timestamptz
 * and parsed objects for jsonb, SQLite hands back text), and the repositories normalise it.
 */
import type { ColumnType, Generated } from 'kysely';

/** ISO-8601 text in, `string` (SQLite) or `Date` (PostgreSQL timestamptz) out. */
export type Timestamp = ColumnType<string | Date, string, string>;
/** JSON text in, text (SQLite) or a parsed value (PostgreSQL jsonb) out. */
export type Json = ColumnType<unknown, string, string>;
/** 0/1: SQLite has no boolean and better-sqlite3 refuses to bind JS booleans, so both engines use integers. */
export type Flag = number;

interface Audited {
  version: number;
  created_at: Timestamp;
  created_by: string | null;
  updated_at: Timestamp;
  updated_by: string | null;
}

export type NodeKind = 'tenant' | 'customer' | 'deployment' | 'unit';

export interface NodesTable extends Audited {
  id: string;
  tenant_id: string;
  parent_id: string | null;
  kind: NodeKind;
  name: string;
  metadata: Json;
  /** `/<root id>/<child id>/.../<own id>/`: a subtree is every node whose path starts with this one's. */
  path: string;
}

export type UserKind = 'human' | 'system';
export type EntityStatus = 'enabled' | 'disabled';

export interface UsersTable extends Audited {
  id: string;
  /** Null for platform users (the operators of the whole installation). */
  tenant_id: string | null;
  kind: UserKind;
  email: string;
  name: string;
  password_hash: string;
  status: EntityStatus;
  /** Extended user information (phone, department, ...), readable with `users.read-extended`. */
  profile: Json;
}

export interface MembershipsTable {
  user_id: string;
  node_id: string;
  created_at: Timestamp;
  created_by: string | null;
}

export type RoleType = 'VIEW' | 'MANAGE' | 'ADMIN' | 'SUPER';

export interface RolesTable extends Audited {
  id: string;
  tenant_id: string | null;
  /** Null: a SYSTEM-scoped role. */
  node_id: string | null;
  name: string;
  type: RoleType;
  is_default: Flag;
}

export interface RolePermissionsTable {
  role_id: string;
  permission: string;
}

export interface UserRolesTable {
  user_id: string;
  role_id: string;
  created_at: Timestamp;
  created_by: string | null;
}

export interface UserPermissionsTable {
  id: string;
  user_id: string;
  permission: string;
  /** Null: SYSTEM scope. */
  node_id: string | null;
  created_at: Timestamp;
  created_by: string | null;
}

export interface ThingsTable extends Audited {
  id: string;
  tenant_id: string;
  node_id: string;
  node_path: string;
  name: string;
  metadata: Json;
  /** HMAC-SHA-256 of the secret under the server's key, hex. */
  secret_hash: string;
  status: EntityStatus;
}

export interface ChannelsTable extends Audited {
  id: string;
  tenant_id: string;
  node_id: string;
  node_path: string;
  name: string;
  metadata: Json;
  strict_senml: Flag;
}

export interface ConnectionsTable {
  thing_id: string;
  channel_id: string;
  can_publish: Flag;
  can_subscribe: Flag;
  created_at: Timestamp;
  created_by: string | null;
}

export interface AssetsTable extends Audited {
  id: string;
  tenant_id: string;
  node_id: string;
  node_path: string;
  name: string;
  type: string;
  /** `{ name: { type, value } }` */
  properties: Json;
  metadata: Json;
}

export interface AssetChannelsTable {
  asset_id: string;
  channel_id: string;
}

export interface AssetSharesTable {
  id: string;
  asset_id: string;
  /** The organization the asset is shared with. */
  node_id: string;
  role: string;
  created_at: Timestamp;
  created_by: string | null;
}

export type TokenKind = 'login' | 'api';

export interface TokensTable {
  /** The JWT's `jti`. */
  id: string;
  user_id: string;
  kind: TokenKind;
  issued_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Timestamp;
  actor_id: string | null;
  tenant_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string;
  details: Json;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** PKCS#8 PEM. */
  private_key: string;
  /** The public JWK as JSON text (for a JWKS endpoint). */
  public_jwk: string;
  created_at: Timestamp;
  retired_at: Timestamp | null;
}

export interface SettingsTable {
  name: string;
  value: string;
}

export interface Database {
  nodes: NodesTable;
  users: UsersTable;
  memberships: MembershipsTable;
  roles: RolesTable;
  role_permissions: RolePermissionsTable;
  user_roles: UserRolesTable;
  user_permissions: UserPermissionsTable;
  things: ThingsTable;
  channels: ChannelsTable;
  connections: ConnectionsTable;
  assets: AssetsTable;
  asset_channels: AssetChannelsTable;
  asset_shares: AssetSharesTable;
  tokens: TokensTable;
  audit_log: AuditLogTable;
  signing_keys: SigningKeysTable;
  settings: SettingsTable;
}
