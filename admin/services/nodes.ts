/**
 * The organization tree. A tenant is a root (created by platform operators holding
 * `tenants.write`); below it customers, deployments and units (e.g. "Household", "Power plant").
 * Tenants, customers and deployments get their VIEW / MANAGE / ADMIN roles when created. Nodes do
 * not move: a node's path is fixed at creation, which keeps every subtree check a prefix test.
 */
import { permissionsUpTo } from '../../auth/permissions.js';
import { constraintViolation } from '../../storage/sql/errors.js';
import type { Page } from '../../storage/sql/filters.js';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import type { NodeKind, RoleType } from '../../storage/sql/schema.js';
import type { SqlStore } from '../../storage/sql/store.js';
import type { JsonObject } from '../../storage/sql/values.js';
import type { Actor } from './actor.js';
import { audit, newId, type Paging, paging, type ServiceContext, updated } from './context.js';
import { conflict, forbidden, notFound, stale, unprocessable } from './errors.js';

/** Which kinds may sit below which. */
const ALLOWED_PARENTS: Record<Exclude<NodeKind, 'tenant'>, readonly NodeKind[]> = {
  customer: ['tenant', 'customer'],
  deployment: ['tenant', 'customer'],
  unit: ['tenant', 'customer', 'deployment', 'unit'],
};

/** Node kinds that get default roles. */
const KINDS_WITH_ROLES: readonly NodeKind[] = ['tenant', 'customer', 'deployment'];
export const DEFAULT_ROLE_TYPES: readonly RoleType[] = ['VIEW', 'MANAGE', 'ADMIN'];

export function defaultRoleName(type: RoleType): string {
  return type.toLowerCase();
}

export interface NodeInput {
  name: string;
  metadata?: JsonObject;
}

export class NodeService {
  constructor(private readonly ctx: ServiceContext) {}

  async createTenant(actor: Actor, input: NodeInput): Promise<OrgNode> {
    if (!actor.grants.everywhere('tenants.write'))
      throw forbidden('tenants.write (SYSTEM) is needed to create a tenant');
    const id = newId();
    return this.ctx.store.transaction(async (tx) => {
      const node = await tx.nodes.insert(
        {
          id,
          tenantId: id,
          parentId: null,
          kind: 'tenant',
          name: input.name,
          metadata: input.metadata ?? {},
          path: `/${id}/`,
        },
        actor.userId,
      );
      await createDefaultRoles(tx, node, actor.userId);
      await audit(
        tx,
        actor,
        'node.create',
        { type: 'node', id, tenantId: id },
        { kind: 'tenant', name: input.name },
      );
      return node;
    });
  }

  async createChild(
    actor: Actor,
    parentId: string,
    kind: Exclude<NodeKind, 'tenant'>,
    input: NodeInput,
  ): Promise<OrgNode> {
    const parent = await this.visible(actor, parentId);
    if (!actor.can('nodes.write', parent.path)) throw forbidden('nodes.write is needed on the parent node');
    if (!ALLOWED_PARENTS[kind].includes(parent.kind)) {
      throw unprocessable(`a ${kind} cannot be placed below a ${parent.kind}`);
    }
    const id = newId();
    return this.ctx.store.transaction(async (tx) => {
      const node = await tx.nodes.insert(
        {
          id,
          tenantId: parent.tenantId,
          parentId: parent.id,
          kind,
          name: input.name,
          metadata: input.metadata ?? {},
          path: `${parent.path}${id}/`,
        },
        actor.userId,
      );
      await createDefaultRoles(tx, node, actor.userId);
      await audit(
        tx,
        actor,
        'node.create',
        { type: 'node', id, tenantId: node.tenantId },
        { kind, name: input.name, parentId },
      );
      return node;
    });
  }

  /** The node, if the caller may see it (404 otherwise). */
  async visible(actor: Actor, id: string): Promise<OrgNode> {
    const node = await this.ctx.store.nodes.get(id);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    return node;
  }

  list(
    actor: Actor,
    query: Paging & { name?: string; metadata?: JsonObject; parentId?: string; kind?: NodeKind },
  ): Promise<Page<OrgNode>> {
    return this.ctx.store.nodes.list(actor.scope('nodes.read'), { ...query, ...paging(query) });
  }

  async update(
    actor: Actor,
    id: string,
    patch: { name?: string; metadata?: JsonObject },
    version?: number,
  ): Promise<OrgNode> {
    const node = await this.visible(actor, id);
    if (!actor.can('nodes.write', node.path)) throw forbidden('nodes.write is needed on this node');
    return this.ctx.store.transaction(async (tx) => {
      const result = updated(await tx.nodes.update(id, patch, actor.userId, version), 'node');
      await audit(tx, actor, 'node.update', { type: 'node', id, tenantId: node.tenantId }, { ...patch });
      return result;
    });
  }

  async delete(actor: Actor, id: string, version?: number): Promise<void> {
    const node = await this.visible(actor, id);
    if (node.kind === 'tenant') {
      if (!actor.grants.everywhere('tenants.write'))
        throw forbidden('tenants.write (SYSTEM) is needed to delete a tenant');
    } else if (!actor.can('nodes.write', node.path)) {
      throw forbidden('nodes.write is needed on this node');
    }
    if (version !== undefined && version !== node.version) throw stale('node');
    const store = this.ctx.store;
    if ((await store.nodes.countChildren(id)) > 0) throw conflict('the node still has child nodes');
    const [things, channels, assets] = await Promise.all([
      store.things.countInNode(id),
      store.channels.countInNode(id),
      store.assets.countInNode(id),
    ]);
    if (things + channels + assets > 0) throw conflict('the node still owns things, channels or assets');
    try {
      await store.transaction(async (tx) => {
        await tx.nodes.delete(id);
        await audit(
          tx,
          actor,
          'node.delete',
          { type: 'node', id, tenantId: node.tenantId },
          { name: node.name },
        );
      });
    } catch (err) {
      if (constraintViolation(err) === 'foreign-key')
        throw conflict('the node is still referenced (users of the tenant?)');
      throw err;
    }
    // Its roles and memberships went with it.
    await this.ctx.changes.publish({ type: 'grants.changed' });
  }
}

/** The VIEW / MANAGE / ADMIN roles of a new tenant, customer or deployment. */
async function createDefaultRoles(tx: SqlStore, node: OrgNode, actor: string | null): Promise<void> {
  if (!KINDS_WITH_ROLES.includes(node.kind)) return;
  for (const type of DEFAULT_ROLE_TYPES) {
    await tx.roles.insert(
      {
        id: newId(),
        tenantId: node.tenantId,
        nodeId: node.id,
        name: defaultRoleName(type),
        type,
        isDefault: true,
        permissions: permissionsUpTo(type).filter((p) => p !== 'tenants.write'),
      },
      actor,
    );
  }
}
