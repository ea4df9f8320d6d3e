/**
 * Roles (a type, a scope, a set of permissions), their assignment to users, and permissions granted
 * to users directly. `grantsOf` flattens both into what the policy engine evaluates.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, RolesTable, RoleType } from '../schema.js';
import { count, iso, now } from '../values.js';
import { type Audit, auditFields, type Versioned } from './audit-fields.js';

export interface Role extends Audit {
  id: string;
  tenantId: string | null;
  /** Null for a SYSTEM-scoped role. */
  nodeId: string | null;
  name: string;
  type: RoleType;
  isDefault: boolean;
  permissions: string[];
}

export interface NewRole {
  id: string;
  tenantId: string | null;
  nodeId: string | null;
  name: string;
  type: RoleType;
  isDefault: boolean;
  permissions: readonly string[];
}

export interface DirectPermission {
  id: string;
  userId: string;
  permission: string;
  nodeId: string | null;
  createdAt: string;
  createdBy: string | null;
}

/** One permission a user holds, and where: below `path` (a node's subtree), or everywhere (null). */
export interface Grant {
  permission: string;
  path: string | null;
  /** The role it comes from, or null for a direct permission. */
  roleId: string | null;
  roleType: RoleType | null;
}

function toRole(row: Selectable<RolesTable>, permissions: string[]): Role {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    nodeId: row.node_id,
    name: row.name,
    type: row.type,
    isDefault: row.is_default === 1,
    permissions,
    ...auditFields(row),
  };
}

export class RolesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(role: NewRole, actor: string | null): Promise<Role> {
    const at = now();
    const row = await this.db
      .insertInto('roles')
      .values({
        id: role.id,
        tenant_id: role.tenantId,
        node_id: role.nodeId,
        name: role.name,
        type: role.type,
        is_default: role.isDefault ? 1 : 0,
        version: 1,
        created_at: at,
        created_by: actor,
        updated_at: at,
        updated_by: actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.writePermissions(role.id, role.permissions);
    return toRole(row, [...new Set(role.permissions)].sort());
  }

  private async writePermissions(roleId: string, permissions: readonly string[]): Promise<void> {
    await this.db.deleteFrom('role_permissions').where('role_id', '=', roleId).execute();
    if (permissions.length === 0) return;
    await this.db
      .insertInto('role_permissions')
      .values([...new Set(permissions)].map((permission) => ({ role_id: roleId, permission })))
      .execute();
  }

  private async permissionsOf(roleIds: readonly string[]): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    if (roleIds.length === 0) return map;
    const rows = await this.db
      .selectFrom('role_permissions')
      .select(['role_id', 'permission'])
      .where('role_id', 'in', roleIds)
      .orderBy('permission')
      .execute();
    for (const r of rows) {
      let list = map.get(r.role_id);
      if (!list) map.set(r.role_id, (list = []));
      list.push(r.permission);
    }
    return map;
  }

  async get(id: string): Promise<Role | undefined> {
    const row = await this.db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const perms = await this.permissionsOf([id]);
    return toRole(row, perms.get(id) ?? []);
  }

  async findByName(nodeId: string | null, name: string): Promise<Role | undefined> {
    let q = this.db.selectFrom('roles').select('id').where('name', '=', name);
    q = nodeId === null ? q.where('node_id', 'is', null) : q.where('node_id', '=', nodeId);
    const row = await q.executeTakeFirst();
    return row && this.get(row.id);
  }

  /** The roles of one node (or the SYSTEM roles when `nodeId` is null). */
  async listForNode(nodeId: string | null): Promise<Role[]> {
    let q = this.db.selectFrom('roles').selectAll();
    q = nodeId === null ? q.where('node_id', 'is', null) : q.where('node_id', '=', nodeId);
    const rows = await q.orderBy('type').orderBy('name').execute();
    const perms = await this.permissionsOf(rows.map((r) => r.id));
    return rows.map((r) => toRole(r, perms.get(r.id) ?? []));
  }

  async update(
    id: string,
    patch: { name?: string; permissions?: readonly string[] },
    actor: string | null,
    expectedVersion?: number,
  ): Promise<Versioned<Role>> {
    let q = this.db
      .updateTable('roles')
      .set((eb) => ({
        ...(patch.name !== undefined && { name: patch.name }),
        version: eb('version', '+', 1),
        updated_at: now(),
        updated_by: actor,
      }))
      .where('id', '=', id);
    if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
    const row = await q.returning('id').executeTakeFirst();
    if (!row) return (await this.get(id)) === undefined ? 'missing' : 'stale';
    if (patch.permissions !== undefined) await this.writePermissions(id, patch.permissions);
    return (await this.get(id))!;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('roles').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- assignments ----

  async assign(userId: string, roleId: string, actor: string | null): Promise<void> {
    await this.db
      .insertInto('user_roles')
      .values({ user_id: userId, role_id: roleId, created_at: now(), created_by: actor })
      .onConflict((oc) => oc.columns(['user_id', 'role_id']).doNothing())
      .execute();
  }

  async unassign(userId: string, roleId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('user_roles')
      .where('user_id', '=', userId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Removes the user's roles scoped to any of `nodeIds` (when the user leaves those nodes). */
  async unassignAtNodes(userId: string, nodeIds: readonly string[]): Promise<number> {
    if (nodeIds.length === 0) return 0;
    const r = await this.db
      .deleteFrom('user_roles')
      .where('user_id', '=', userId)
      .where('role_id', 'in', (eb) => eb.selectFrom('roles').select('id').where('node_id', 'in', nodeIds))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async rolesOf(userId: string): Promise<Role[]> {
    const rows = await this.db
      .selectFrom('roles')
      .innerJoin('user_roles as ur', 'ur.role_id', 'roles.id')
      .selectAll('roles')
      .where('ur.user_id', '=', userId)
      .orderBy('roles.name')
      .execute();
    const perms = await this.permissionsOf(rows.map((r) => r.id));
    return rows.map((r) => toRole(r, perms.get(r.id) ?? []));
  }

  async holders(roleId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('user_roles')
      .select('user_id')
      .where('role_id', '=', roleId)
      .execute();
    return rows.map((r) => r.user_id);
  }

  async countHolders(roleId: string): Promise<number> {
    const r = await this.db
      .selectFrom('user_roles')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return count(r?.n);
  }

  // ---- direct permissions ----

  async grantDirect(
    p: Omit<DirectPermission, 'createdAt' | 'createdBy'>,
    actor: string | null,
  ): Promise<DirectPermission> {
    const at = now();
    await this.db
      .insertInto('user_permissions')
      .values({
        id: p.id,
        user_id: p.userId,
        permission: p.permission,
        node_id: p.nodeId,
        created_at: at,
        created_by: actor,
      })
      .execute();
    return { ...p, createdAt: at, createdBy: actor };
  }

  async findDirect(
    userId: string,
    permission: string,
    nodeId: string | null,
  ): Promise<DirectPermission | undefined> {
    let q = this.db
      .selectFrom('user_permissions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('permission', '=', permission);
    q = nodeId === null ? q.where('node_id', 'is', null) : q.where('node_id', '=', nodeId);
    const r = await q.executeTakeFirst();
    return r && toDirect(r);
  }

  async directOf(userId: string): Promise<DirectPermission[]> {
    const rows = await this.db
      .selectFrom('user_permissions')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('permission')
      .execute();
    return rows.map(toDirect);
  }

  async revokeDirect(userId: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('user_permissions')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async revokeDirectAtNodes(userId: string, nodeIds: readonly string[]): Promise<number> {
    if (nodeIds.length === 0) return 0;
    const r = await this.db
      .deleteFrom('user_permissions')
      .where('user_id', '=', userId)
      .where('node_id', 'in', nodeIds)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Everything `userId` may do, from roles and direct permissions, with the subtree each covers. */
  async grantsOf(userId: string): Promise<Grant[]> {
    const [fromRoles, direct] = await Promise.all([
      this.db
        .selectFrom('user_roles as ur')
        .innerJoin('roles as r', 'r.id', 'ur.role_id')
        .innerJoin('role_permissions as rp', 'rp.role_id', 'r.id')
        .leftJoin('nodes as n', 'n.id', 'r.node_id')
        .select(['rp.permission', 'n.path', 'r.id as role_id', 'r.type'])
        .where('ur.user_id', '=', userId)
        .execute(),
      this.db
        .selectFrom('user_permissions as up')
        .leftJoin('nodes as n', 'n.id', 'up.node_id')
        .select(['up.permission', 'n.path'])
        .where('up.user_id', '=', userId)
        .execute(),
    ]);
    return [
      ...fromRoles.map((g) => ({
        permission: g.permission,
        path: g.path,
        roleId: g.role_id,
        roleType: g.type,
      })),
      ...direct.map((g) => ({ permission: g.permission, path: g.path, roleId: null, roleType: null })),
    ];
  }
}

function toDirect(r: {
  id: string;
  user_id: string;
  permission: string;
  node_id: string | null;
  created_at: string | Date;
  created_by: string | null;
}): DirectPermission {
  return {
    id: r.id,
    userId: r.user_id,
    permission: r.permission,
    nodeId: r.node_id,
    createdAt: iso(r.created_at),
    createdBy: r.created_by,
  };
}
