/**
 * Users: human (password login, one live token) or system (API tokens). A user belongs to one
 * tenant (or none: a platform operator) and to nodes of it through memberships; roles of a node can
 * only be held by its members (or members of an ancestor), so leaving a node also drops what was
 * granted there. Extended information (the profile) is readable with `users.read-extended`.
 */
import { MIN_PASSWORD_LENGTH, type PasswordHasher } from '../../auth/passwords.js';
import { constraintViolation } from '../../storage/sql/errors.js';
import type { Page } from '../../storage/sql/filters.js';
import type { Membership, User } from '../../storage/sql/repositories/users.js';
import type { EntityStatus, UserKind } from '../../storage/sql/schema.js';
import type { JsonObject } from '../../storage/sql/values.js';
import type { Actor } from './actor.js';
import { audit, newId, type Paging, paging, type ServiceContext, updated } from './context.js';
import { conflict, forbidden, notFound, stale, unprocessable } from './errors.js';

export interface UserView {
  id: string;
  tenantId: string | null;
  kind: UserKind;
  email: string;
  name: string;
  status: EntityStatus;
  /** Present only for callers with `users.read-extended` (and for the user themself). */
  profile?: JsonObject;
  version: number;
  createdAt: string;
  createdBy: string | null;
  updatedAt: string;
  updatedBy: string | null;
}

export interface NewUserInput {
  email: string;
  name: string;
  password: string;
  kind: UserKind;
  /** The node the user starts as a member of; absent for a platform user. */
  nodeId?: string;
  profile?: JsonObject;
}

export class UserService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly passwords: PasswordHasher,
  ) {}

  view(actor: Actor, user: User, memberships: readonly Membership[]): UserView {
    const { profile, ...rest } = user;
    const extended =
      actor.userId === user.id ||
      (user.tenantId === null
        ? actor.grants.everywhere('users.read-extended')
        : memberships.some((m) => actor.can('users.read-extended', m.nodePath)));
    return extended ? { ...rest, profile } : rest;
  }

  async create(actor: Actor, input: NewUserInput): Promise<{ user: User; memberships: Membership[] }> {
    checkPassword(input.password);
    let tenantId: string | null = null;
    if (input.nodeId !== undefined) {
      const node = await this.ctx.store.nodes.get(input.nodeId);
      if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
      if (!actor.can('users.write', node.path)) throw forbidden('users.write is needed on the node');
      tenantId = node.tenantId;
    } else if (!actor.grants.everywhere('users.write')) {
      throw forbidden('a platform user (no nodeId) needs users.write with SYSTEM scope');
    }
    const passwordHash = await this.passwords.hash(input.password);
    const id = newId();
    try {
      return await this.ctx.store.transaction(async (tx) => {
        const user = await tx.users.insert(
          {
            id,
            tenantId,
            kind: input.kind,
            email: input.email.toLowerCase(),
            name: input.name,
            passwordHash,
            status: 'enabled',
            profile: input.profile ?? {},
          },
          actor.userId,
        );
        if (input.nodeId !== undefined) await tx.users.addMembership(id, input.nodeId, actor.userId);
        await audit(
          tx,
          actor,
          'user.create',
          { type: 'user', id, tenantId },
          { email: user.email, kind: user.kind },
        );
        return { user, memberships: await tx.users.memberships(id) };
      });
    } catch (err) {
      if (constraintViolation(err) === 'unique') throw conflict('a user with this email exists');
      throw err;
    }
  }

  /** The user and their memberships, if the caller may see them (404 otherwise). */
  async visible(actor: Actor, id: string): Promise<{ user: User; memberships: Membership[] }> {
    const user = await this.ctx.store.users.get(id);
    if (user === undefined) throw notFound('user');
    const memberships = await this.ctx.store.users.memberships(id);
    if (actor.userId !== id && !canOnSome(actor, 'users.read', user, memberships)) throw notFound('user');
    return { user, memberships };
  }

  /** Writing a user needs `users.write` over every node they belong to (no takeover from below). */
  async writable(actor: Actor, id: string): Promise<{ user: User; memberships: Membership[] }> {
    const found = await this.visible(actor, id);
    if (!canOnAll(actor, 'users.write', found.user, found.memberships)) {
      throw forbidden('users.write is needed over every node this user belongs to');
    }
    return found;
  }

  list(
    actor: Actor,
    query: Paging & { name?: string; metadata?: JsonObject; tenantId?: string },
  ): Promise<Page<User>> {
    return this.ctx.store.users.list(actor.scope('users.read'), { ...query, ...paging(query) });
  }

  async update(
    actor: Actor,
    id: string,
    patch: { name?: string; profile?: JsonObject; password?: string },
    version?: number,
  ): Promise<User> {
    const self = actor.userId === id;
    const { user } = self ? await this.visible(actor, id) : await this.writable(actor, id);
    if (patch.password !== undefined) checkPassword(patch.password);
    const passwordHash = patch.password === undefined ? undefined : await this.passwords.hash(patch.password);
    return this.ctx.store.transaction(async (tx) => {
      const result = updated(
        await tx.users.update(
          id,
          {
            ...(patch.name !== undefined && { name: patch.name }),
            ...(patch.profile !== undefined && { profile: patch.profile }),
            ...(passwordHash !== undefined && { passwordHash }),
          },
          actor.userId,
          version,
        ),
        'user',
      );
      await audit(
        tx,
        actor,
        'user.update',
        { type: 'user', id, tenantId: user.tenantId },
        {
          fields: Object.keys(patch),
        },
      );
      return result;
    });
  }

  async setStatus(actor: Actor, id: string, status: EntityStatus, version?: number): Promise<User> {
    if (actor.userId === id) throw unprocessable('you cannot change your own status');
    const { user } = await this.writable(actor, id);
    const store = this.ctx.store;
    const { result, revoked } = await store.transaction(async (tx) => {
      const result = updated(await tx.users.update(id, { status }, actor.userId, version), 'user');
      const revoked = status === 'disabled' ? await tx.tokens.revokeAll(id) : [];
      await audit(tx, actor, status === 'disabled' ? 'user.disable' : 'user.enable', {
        type: 'user',
        id,
        tenantId: user.tenantId,
      });
      return { result, revoked };
    });
    if (status === 'disabled') {
      await this.ctx.changes.publish({ type: 'tokens.revoked', userId: id, tokenIds: revoked });
      await this.ctx.changes.publish({ type: 'user.disabled', userId: id });
    }
    return result;
  }

  async delete(actor: Actor, id: string, version?: number): Promise<void> {
    if (actor.userId === id) throw unprocessable('you cannot delete yourself');
    const { user } = await this.writable(actor, id);
    if (version !== undefined && version !== user.version) throw stale('user');
    await this.ctx.store.transaction(async (tx) => {
      await tx.users.delete(id);
      await audit(
        tx,
        actor,
        'user.delete',
        { type: 'user', id, tenantId: user.tenantId },
        { email: user.email },
      );
    });
    await this.ctx.changes.publish({ type: 'user.deleted', userId: id });
  }

  /** The members of a node, as the caller may see them. */
  async members(actor: Actor, nodeId: string, query: Paging): Promise<Page<UserView>> {
    const node = await this.ctx.store.nodes.get(nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    if (!actor.can('users.read', node.path)) throw forbidden('users.read is needed on the node');
    const page = await this.ctx.store.users.members(nodeId, paging(query));
    const items = await Promise.all(
      page.items.map(async (u) => this.view(actor, u, await this.ctx.store.users.memberships(u.id))),
    );
    return { ...page, items };
  }

  // ---- memberships ----

  async addMembership(actor: Actor, userId: string, nodeId: string): Promise<Membership[]> {
    const { user } = await this.visible(actor, userId);
    const node = await this.ctx.store.nodes.get(nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    if (!actor.can('users.write', node.path)) throw forbidden('users.write is needed on the node');
    if (user.tenantId !== node.tenantId)
      throw unprocessable('a user can only join nodes of their own tenant');
    await this.ctx.store.transaction(async (tx) => {
      await tx.users.addMembership(userId, nodeId, actor.userId);
      await audit(
        tx,
        actor,
        'membership.add',
        { type: 'user', id: userId, tenantId: user.tenantId },
        { nodeId },
      );
    });
    return this.ctx.store.users.memberships(userId);
  }

  /**
   * Leaves a node. Roles and direct permissions scoped to nodes the user no longer belongs to (at
   * or above) are removed with it.
   */
  async removeMembership(actor: Actor, userId: string, nodeId: string): Promise<Membership[]> {
    const { user, memberships } = await this.visible(actor, userId);
    const membership = memberships.find((m) => m.nodeId === nodeId);
    if (membership === undefined) throw notFound('membership');
    if (!actor.can('users.write', membership.nodePath)) throw forbidden('users.write is needed on the node');
    const remaining = memberships.filter((m) => m.nodeId !== nodeId).map((m) => m.nodePath);
    const stillMember = (path: string): boolean => remaining.some((p) => path.startsWith(p));
    const store = this.ctx.store;
    await store.transaction(async (tx) => {
      await tx.users.removeMembership(userId, nodeId);
      const orphaned = new Set<string>();
      for (const role of await tx.roles.rolesOf(userId)) {
        if (role.nodeId === null) continue;
        const node = await tx.nodes.get(role.nodeId);
        if (node && !stillMember(node.path)) orphaned.add(node.id);
      }
      for (const p of await tx.roles.directOf(userId)) {
        if (p.nodeId === null) continue;
        const node = await tx.nodes.get(p.nodeId);
        if (node && !stillMember(node.path)) orphaned.add(node.id);
      }
      await tx.roles.unassignAtNodes(userId, [...orphaned]);
      await tx.roles.revokeDirectAtNodes(userId, [...orphaned]);
      await audit(
        tx,
        actor,
        'membership.remove',
        { type: 'user', id: userId, tenantId: user.tenantId },
        {
          nodeId,
          droppedGrantsAt: [...orphaned],
        },
      );
    });
    await this.ctx.changes.publish({ type: 'user.grants-changed', userId });
    return store.users.memberships(userId);
  }
}

export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw unprocessable(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  }
}

function canOnSome(
  actor: Actor,
  permission: 'users.read' | 'users.write',
  user: User,
  memberships: readonly Membership[],
): boolean {
  if (actor.grants.everywhere(permission)) return true;
  if (user.tenantId === null) return false;
  return memberships.some((m) => actor.can(permission, m.nodePath));
}

function canOnAll(
  actor: Actor,
  permission: 'users.write',
  user: User,
  memberships: readonly Membership[],
): boolean {
  if (actor.grants.everywhere(permission)) return true;
  if (user.tenantId === null || memberships.length === 0) return false;
  return memberships.every((m) => actor.can(permission, m.nodePath));
}
