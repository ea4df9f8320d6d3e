/**
 * Who is calling the management API: an authenticated user with their grants, evaluated once per
 * request. Services ask it `can(permission, path)` and for list scopes.
 */
import type { Grants } from '../../auth/grants.js';
import type { Permission } from '../../auth/permissions.js';
import type { Scope } from '../../storage/sql/filters.js';
import type { UserKind } from '../../storage/sql/schema.js';
import { forbidden, notFound } from './errors.js';

export class Actor {
  constructor(
    readonly userId: string,
    readonly tenantId: string | null,
    readonly kind: UserKind,
    readonly tokenId: string,
    readonly grants: Grants,
  ) {}

  /** A platform user (no tenant): the only kind that may hold SYSTEM-scoped grants. */
  get isPlatform(): boolean {
    return this.tenantId === null;
  }

  can(permission: Permission, path: string): boolean {
    return this.grants.covers(permission, path);
  }

  scope(permission: Permission): Scope {
    return this.grants.scope(permission);
  }

  /**
   * Reading needs `read` on the entity; without it the entity does not exist for this caller (404,
   * so that other tenants' ids are not even confirmed). With read but not `write`: 403.
   */
  require(read: Permission, write: Permission | null, path: string, what: string): void {
    if (!this.can(read, path)) throw notFound(what);
    if (write !== null && !this.can(write, path)) throw forbidden(`${write} is needed for this ${what}`);
  }
}
