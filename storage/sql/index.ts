/** The management store's public surface. */
export { type Engine, openSqlDatabase, type SqlDatabase, type SqlDatabaseOptions } from './engine.js';
export { type ConstraintKind, constraintViolation } from './errors.js';
export { EVERYTHING, type ListOptions, type Page, type Scope } from './filters.js';
export { migrateToLatest, migrations } from './migrations/index.js';
export type {
  Asset,
  AssetShare,
  NewAsset,
  PropertyType,
  ShareGrant,
  TypedProperty,
} from './repositories/assets.js';
export type { Audit, Versioned } from './repositories/audit-fields.js';
export type { AuditEntry, NewAuditEntry } from './repositories/audit-log.js';
export type { Channel, NewChannel } from './repositories/channels.js';
export type { Connection } from './repositories/connections.js';
export type { SigningKeyRecord } from './repositories/keys.js';
export type { NewNode, NodeListOptions, OrgNode } from './repositories/nodes.js';
export type { DirectPermission, Grant, NewRole, Role } from './repositories/roles.js';
export type { NewThing, Thing, ThingCredentials } from './repositories/things.js';
export type { TokenRecord } from './repositories/tokens.js';
export type { Membership, NewUser, User, UserCredentials } from './repositories/users.js';
export type { EntityStatus, NodeKind, RoleType, TokenKind, UserKind } from './schema.js';
export { openSqlStore, SqlStore } from './store.js';
export type { JsonObject } from './values.js';
