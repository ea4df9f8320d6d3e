/**
 * Roles and direct permissions. A role has a type (VIEW < MANAGE < ADMIN < SUPER) and a scope: a
 * node (covering its subtree) or SYSTEM. Rules enforced here:
 * - a role holds only catalogue permissions up to its type; SUPER and SYSTEM-only permissions only
 *   with SYSTEM scope; default roles are fixed;
 * - a user must belong to the role's node (or an ancestor) before it can be assigned; SYSTEM roles
 *   only to platform users;
 * - nobody grants what they do not hold: the assigner must hold every permission of the role (or
 *   the direct permission) over the role's scope.
 */
import {
  isPermission,
  isSystemOnly,
  PERMISSIONS,
  type Permission,
  roleRank,
} from '../../auth/permissions.js';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import type { DirectPermission, Role } from '../../storage/sql/repositories/roles.js';
import type { RoleType } from '../../storage/sql/schema.js';
import type { Actor } from './actor.js';
import { audit, newId, type ServiceContext, updated } from './context.js';
import { conflict, forbidden, notFound, unprocessable } from './errors.js';
import type { UserService } from './users.js';

export interface RoleInput {
  name: string;
  type: RoleType;
  permissions: string[];
}

export class RoleService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly users: UserService,
  ) {}

  /** The node a role is scoped to (null for SYSTEM), visible to the caller. */
  private async scopeNode(actor: Actor, nodeId: string | null): Promise<OrgNode | null> {
    if (nodeId === null) return null;
    const node = await this.ctx.store.nodes.get(nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    return node;
  }

  private allowed(actor: Actor, permission: Permission, node: OrgNode | null): boolean {
    return node === null ? actor.grants.everywhere(permission) : actor.can(permission, node.path);
  }

  async list(actor: Actor, nodeId: string | null): Promise<Role[]> {
    const node = await this.scopeNode(actor, nodeId);
    if (!this.allowed(actor, 'roles.read', node)) {
      if (node === null) throw forbidden('roles.read with SYSTEM scope is needed');
      throw forbidden('roles.read is needed on the node');
    }
    return this.ctx.store.roles.listForNode(nodeId);
  }

  async visible(actor: Actor, roleId: string): Promise<{ role: Role; node: OrgNode | null }> {
    const role = await this.ctx.store.roles.get(roleId);
    if (role === undefined) throw notFound('role');
    const node = role.nodeId === null ? null : ((await this.ctx.store.nodes.get(role.nodeId)) ?? null);
    if (!this.allowed(actor, 'roles.read', node)) throw notFound('role');
    return { role, node };
  }

  private validate(
    input: { type: RoleType; permissions: readonly string[] },
    node: OrgNode | null,
  ): Permission[] {
    if (input.type === 'SUPER' && node !== null)
      throw unprocessable('SUPER roles exist only with SYSTEM scope');
    const out: Permission[] = [];
    for (const p of input.permissions) {
      if (!isPermission(p)) throw unprocessable(`unknown permission "${p}"`);
      if (roleRank(PERMISSIONS[p].type) > roleRank(input.type)) {
        throw unprocessable(`"${p}" needs a ${PERMISSIONS[p].type} role, this one is ${input.type}`);
      }
      if (isSystemOnly(p) && node !== null) throw unprocessable(`"${p}" exists only with SYSTEM scope`);
      out.push(p);
    }
    return out;
  }

  private checkNoEscalation(actor: Actor, permissions: readonly Permission[], node: OrgNode | null): void {
    const missing = permissions.filter((p) => !this.allowed(actor, p, node));
    if (missing.length > 0)
      throw forbidden(`you cannot grant permissions you do not hold: ${missing.join(', ')}`);
  }

  async create(actor: Actor, nodeId: string | null, input: RoleInput): Promise<Role> {
    const node = await this.scopeNode(actor, nodeId);
    if (!this.allowed(actor, 'roles.write', node)) throw forbidden('roles.write is needed on this scope');
    const permissions = this.validate(input, node);
    this.checkNoEscalation(actor, permissions, node);
    if ((await this.ctx.store.roles.findByName(nodeId, input.name)) !== undefined) {
      throw conflict(`a role named "${input.name}" exists on this scope`);
    }
    const id = newId();
    return this.ctx.store.transaction(async (tx) => {
      const role = await tx.roles.insert(
        {
          id,
          tenantId: node?.tenantId ?? null,
          nodeId,
          name: input.name,
          type: input.type,
          isDefault: false,
          permissions,
        },
        actor.userId,
      );
      await audit(
        tx,
        actor,
        'role.create',
        { type: 'role', id, tenantId: role.tenantId },
        {
          name: input.name,
          type: input.type,
          permissions,
        },
      );
      return role;
    });
  }

  async update(
    actor: Actor,
    roleId: string,
    patch: { name?: string; permissions?: string[] },
    version?: number,
  ): Promise<Role> {
    const { role, node } = await this.visible(actor, roleId);
    if (!this.allowed(actor, 'roles.write', node)) throw forbidden('roles.write is needed on this scope');
    if (role.isDefault) throw conflict('default roles cannot be changed');
    let permissions: Permission[] | undefined;
    if (patch.permissions !== undefined) {
      permissions = this.validate({ type: role.type, permissions: patch.permissions }, node);
      this.checkNoEscalation(actor, permissions, node);
    }
    if (patch.name !== undefined && patch.name !== role.name) {
      if ((await this.ctx.store.roles.findByName(role.nodeId, patch.name)) !== undefined) {
        throw conflict(`a role named "${patch.name}" exists on this scope`);
      }
    }
    const result = await this.ctx.store.transaction(async (tx) => {
      const r = updated(
        await tx.roles.update(
          roleId,
          { ...(patch.name !== undefined && { name: patch.name }), ...(permissions && { permissions }) },
          actor.userId,
          version,
        ),
        'role',
      );
      await audit(
        tx,
        actor,
        'role.update',
        { type: 'role', id: roleId, tenantId: role.tenantId },
        { ...patch },
      );
      return r;
    });
    await this.ctx.changes.publish({ type: 'grants.changed' });
    return result;
  }

  async delete(actor: Actor, roleId: string): Promise<void> {
    const { role, node } = await this.visible(actor, roleId);
    if (!this.allowed(actor, 'roles.write', node)) throw forbidden('roles.write is needed on this scope');
    if (role.isDefault) throw conflict('default roles cannot be deleted');
    await this.ctx.store.transaction(async (tx) => {
      await tx.roles.delete(roleId);
      await audit(
        tx,
        actor,
        'role.delete',
        { type: 'role', id: roleId, tenantId: role.tenantId },
        { name: role.name },
      );
    });
    await this.ctx.changes.publish({ type: 'grants.changed' });
  }

  /** The user may hold grants scoped to `node`: a member of it or an ancestor (platform users: SYSTEM). */
  private async checkEligible(userId: string, tenantId: string | null, node: OrgNode | null): Promise<void> {
    if (node === null) {
      if (tenantId !== null) throw unprocessable('SYSTEM roles and permissions are only for platform users');
      return;
    }
    const memberships = await this.ctx.store.users.memberships(userId);
    if (!memberships.some((m) => node.path.startsWith(m.nodePath))) {
      throw unprocessable(
        'the user must belong to the node (or one above it) before a role of that node is assigned',
      );
    }
  }

  async assign(actor: Actor, roleId: string, userId: string): Promise<Role[]> {
    const { role, node } = await this.visible(actor, roleId);
    if (!this.allowed(actor, 'roles.assign', node)) throw forbidden('roles.assign is needed on this scope');
    const { user } = await this.users.visible(actor, userId);
    await this.checkEligible(userId, user.tenantId, node);
    this.checkNoEscalation(actor, role.permissions as Permission[], node);
    await this.ctx.store.transaction(async (tx) => {
      await tx.roles.assign(userId, roleId, actor.userId);
      await audit(
        tx,
        actor,
        'role.assign',
        { type: 'user', id: userId, tenantId: user.tenantId },
        { roleId },
      );
    });
    await this.ctx.changes.publish({ type: 'user.grants-changed', userId });
    return this.ctx.store.roles.rolesOf(userId);
  }

  async unassign(actor: Actor, roleId: string, userId: string): Promise<void> {
    const { node } = await this.visible(actor, roleId);
    if (!this.allowed(actor, 'roles.assign', node)) throw forbidden('roles.assign is needed on this scope');
    const { user } = await this.users.visible(actor, userId);
    const removed = await this.ctx.store.transaction(async (tx) => {
      const r = await tx.roles.unassign(userId, roleId);
      if (r)
        await audit(
          tx,
          actor,
          'role.unassign',
          { type: 'user', id: userId, tenantId: user.tenantId },
          { roleId },
        );
      return r;
    });
    if (!removed) throw notFound('role assignment');
    await this.ctx.changes.publish({ type: 'user.grants-changed', userId });
  }

  async rolesOf(actor: Actor, userId: string): Promise<Role[]> {
    await this.users.visible(actor, userId);
    return this.ctx.store.roles.rolesOf(userId);
  }

  async holders(actor: Actor, roleId: string): Promise<string[]> {
    await this.visible(actor, roleId);
    return this.ctx.store.roles.holders(roleId);
  }

  // ---- direct permissions ----

  async directOf(actor: Actor, userId: string): Promise<DirectPermission[]> {
    await this.users.visible(actor, userId);
    return this.ctx.store.roles.directOf(userId);
  }

  async grantDirect(
    actor: Actor,
    userId: string,
    permission: string,
    nodeId: string | null,
  ): Promise<DirectPermission> {
    if (!isPermission(permission)) throw unprocessable(`unknown permission "${permission}"`);
    const node = await this.scopeNode(actor, nodeId);
    if (!this.allowed(actor, 'roles.assign', node)) throw forbidden('roles.assign is needed on this scope');
    if (isSystemOnly(permission) && node !== null)
      throw unprocessable(`"${permission}" exists only with SYSTEM scope`);
    const { user } = await this.users.visible(actor, userId);
    await this.checkEligible(userId, user.tenantId, node);
    this.checkNoEscalation(actor, [permission], node);
    const existing = await this.ctx.store.roles.findDirect(userId, permission, nodeId);
    if (existing !== undefined) return existing;
    const granted = await this.ctx.store.transaction(async (tx) => {
      const g = await tx.roles.grantDirect({ id: newId(), userId, permission, nodeId }, actor.userId);
      await audit(
        tx,
        actor,
        'permission.grant',
        { type: 'user', id: userId, tenantId: user.tenantId },
        {
          permission,
          nodeId,
        },
      );
      return g;
    });
    await this.ctx.changes.publish({ type: 'user.grants-changed', userId });
    return granted;
  }

  async revokeDirect(actor: Actor, userId: string, grantId: string): Promise<void> {
    const { user } = await this.users.visible(actor, userId);
    const grant = (await this.ctx.store.roles.directOf(userId)).find((g) => g.id === grantId);
    if (grant === undefined) throw notFound('permission grant');
    const node = await this.scopeNode(actor, grant.nodeId);
    if (!this.allowed(actor, 'roles.assign', node)) throw forbidden('roles.assign is needed on this scope');
    await this.ctx.store.transaction(async (tx) => {
      await tx.roles.revokeDirect(userId, grantId);
      await audit(
        tx,
        actor,
        'permission.revoke',
        { type: 'user', id: userId, tenantId: user.tenantId },
        {
          permission: grant.permission,
          nodeId: grant.nodeId,
        },
      );
    });
    await this.ctx.changes.publish({ type: 'user.grants-changed', userId });
  }
}
