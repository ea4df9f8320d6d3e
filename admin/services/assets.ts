/**
 * Assets: UUID keys, typed properties, owned by one node, linked to the channels that carry their
 * telemetry, and shared with other organizations under a role (see auth/share-roles.ts for what
 * each role allows). The owning side manages everything; a receiving organization uses exactly the
 * capabilities of its share (and may change only `properties`, and only with a role that writes).
 */
import { SHARE_ROLES, type ShareCapability, type ShareRole, shareAllows } from '../../auth/share-roles.js';
import type { Page, Scope } from '../../storage/sql/filters.js';
import type { Asset, AssetShare, TypedProperty } from '../../storage/sql/repositories/assets.js';
import type { JsonObject } from '../../storage/sql/values.js';
import type { Actor } from './actor.js';
import { audit, newId, type Paging, paging, type ServiceContext, updated } from './context.js';
import { forbidden, notFound, stale, unprocessable } from './errors.js';

export type AssetAccess = 'owner' | ShareRole;

export interface AssetWithAccess {
  asset: Asset;
  /** 'owner': the caller's own organization holds it; otherwise the role of the share that reaches them. */
  access: AssetAccess;
}

function checkProperties(properties: Record<string, TypedProperty>): void {
  for (const [name, p] of Object.entries(properties)) {
    const ok =
      (p.type === 'string' && typeof p.value === 'string') ||
      (p.type === 'number' && typeof p.value === 'number' && Number.isFinite(p.value)) ||
      (p.type === 'boolean' && typeof p.value === 'boolean') ||
      p.type === 'json';
    if (!ok) throw unprocessable(`property "${name}" is declared ${p.type} but its value is not`);
  }
}

export class AssetService {
  constructor(private readonly ctx: ServiceContext) {}

  async create(
    actor: Actor,
    input: {
      nodeId: string;
      name: string;
      type: string;
      properties?: Record<string, TypedProperty>;
      metadata?: JsonObject;
    },
  ): Promise<Asset> {
    const node = await this.ctx.store.nodes.get(input.nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    if (!actor.can('assets.write', node.path)) throw forbidden('assets.write is needed on the node');
    checkProperties(input.properties ?? {});
    const id = newId();
    return this.ctx.store.transaction(async (tx) => {
      const a = await tx.assets.insert(
        {
          id,
          tenantId: node.tenantId,
          nodeId: node.id,
          nodePath: node.path,
          name: input.name,
          type: input.type,
          properties: input.properties ?? {},
          metadata: input.metadata ?? {},
        },
        actor.userId,
      );
      await audit(
        tx,
        actor,
        'asset.create',
        { type: 'asset', id, tenantId: node.tenantId },
        { name: input.name },
      );
      return a;
    });
  }

  /** The asset and how the caller reaches it, if they may read it (404 otherwise). */
  async visible(actor: Actor, id: string): Promise<AssetWithAccess> {
    const asset = await this.ctx.store.assets.get(id);
    if (asset === undefined) throw notFound('asset');
    if (actor.can('assets.read', asset.nodePath)) return { asset, access: 'owner' };
    const shares = await this.ctx.store.assets.shareGrants(id);
    const share = shares.find((s) => shareAllows(s.role, 'read') && actor.can('assets.read', s.targetPath));
    if (share === undefined) throw notFound('asset');
    return { asset, access: share.role as ShareRole };
  }

  /** May the caller use `capability` on the asset (through its own organization or its share)? */
  async allows(actor: Actor, found: AssetWithAccess, capability: ShareCapability): Promise<boolean> {
    return this.ctx.policy.assetAccess(actor.grants, found.asset, capability);
  }

  async list(
    actor: Actor,
    query: Paging & { name?: string; metadata?: JsonObject; type?: string },
  ): Promise<Page<Asset>> {
    const own = actor.scope('assets.read');
    let scope: Scope = own;
    if (!('all' in own)) {
      const shares = await this.ctx.store.assets.sharesInto(own);
      const ids = shares.filter((s) => shareAllows(s.role, 'read')).map((s) => s.assetId);
      scope = { paths: own.paths, ids: [...new Set(ids)] };
    }
    return this.ctx.store.assets.list(scope, { ...query, ...paging(query) });
  }

  async update(
    actor: Actor,
    id: string,
    patch: {
      name?: string;
      type?: string;
      properties?: Record<string, TypedProperty>;
      metadata?: JsonObject;
    },
    version?: number,
  ): Promise<Asset> {
    const found = await this.visible(actor, id);
    const asset = found.asset;
    if (found.access === 'owner') {
      if (!actor.can('assets.write', asset.nodePath)) throw forbidden('assets.write is needed on this asset');
    } else {
      if (!(await this.allows(actor, found, 'write')))
        throw forbidden(`a ${found.access} share does not allow changes`);
      if (patch.name !== undefined || patch.type !== undefined || patch.metadata !== undefined) {
        throw forbidden('through a share only properties can be changed');
      }
    }
    if (patch.properties !== undefined) checkProperties(patch.properties);
    return this.ctx.store.transaction(async (tx) => {
      const a = updated(await tx.assets.update(id, patch, actor.userId, version), 'asset');
      await audit(
        tx,
        actor,
        'asset.update',
        { type: 'asset', id, tenantId: asset.tenantId },
        {
          fields: Object.keys(patch),
          via: found.access,
        },
      );
      return a;
    });
  }

  private async owned(actor: Actor, id: string, permission: 'assets.write' | 'assets.share'): Promise<Asset> {
    const found = await this.visible(actor, id);
    if (found.access !== 'owner' || !actor.can(permission, found.asset.nodePath)) {
      throw forbidden(`${permission} on the owning organization is needed`);
    }
    return found.asset;
  }

  async delete(actor: Actor, id: string, version?: number): Promise<void> {
    const asset = await this.owned(actor, id, 'assets.write');
    if (version !== undefined && version !== asset.version) throw stale('asset');
    await this.ctx.store.transaction(async (tx) => {
      await tx.assets.delete(id);
      await audit(
        tx,
        actor,
        'asset.delete',
        { type: 'asset', id, tenantId: asset.tenantId },
        { name: asset.name },
      );
    });
    await this.ctx.changes.publish({ type: 'grants.changed' });
  }

  // ---- channels ----

  async channels(actor: Actor, id: string): Promise<string[]> {
    await this.visible(actor, id);
    return this.ctx.store.assets.channelsOf(id);
  }

  async linkChannel(actor: Actor, id: string, channelId: string): Promise<string[]> {
    const asset = await this.owned(actor, id, 'assets.write');
    const channel = await this.ctx.store.channels.get(channelId);
    if (channel === undefined || !actor.can('channels.read', channel.nodePath)) throw notFound('channel');
    if (channel.tenantId !== asset.tenantId)
      throw unprocessable('an asset can only carry channels of its own tenant');
    await this.ctx.store.transaction(async (tx) => {
      await tx.assets.linkChannel(id, channelId);
      await audit(
        tx,
        actor,
        'asset.link-channel',
        { type: 'asset', id, tenantId: asset.tenantId },
        { channelId },
      );
    });
    await this.ctx.changes.publish({ type: 'grants.changed' });
    return this.ctx.store.assets.channelsOf(id);
  }

  async unlinkChannel(actor: Actor, id: string, channelId: string): Promise<void> {
    const asset = await this.owned(actor, id, 'assets.write');
    const removed = await this.ctx.store.transaction(async (tx) => {
      const r = await tx.assets.unlinkChannel(id, channelId);
      if (r)
        await audit(
          tx,
          actor,
          'asset.unlink-channel',
          { type: 'asset', id, tenantId: asset.tenantId },
          { channelId },
        );
      return r;
    });
    if (!removed) throw notFound('asset channel');
    await this.ctx.changes.publish({ type: 'grants.changed' });
  }

  // ---- shares ----

  async shares(actor: Actor, id: string): Promise<AssetShare[]> {
    await this.owned(actor, id, 'assets.share');
    return this.ctx.store.assets.sharesOf(id);
  }

  async share(actor: Actor, id: string, nodeId: string, role: string): Promise<AssetShare> {
    if (!Object.hasOwn(SHARE_ROLES, role)) throw unprocessable(`unknown share role "${role}"`);
    const asset = await this.owned(actor, id, 'assets.share');
    const target = await this.ctx.store.nodes.get(nodeId);
    if (target === undefined) throw unprocessable('no organization with this id');
    if (target.path.startsWith(asset.nodePath) || asset.nodePath.startsWith(target.path)) {
      throw unprocessable('this organization already holds the asset (it is the owner, above or below it)');
    }
    const share = await this.ctx.store.transaction(async (tx) => {
      const s = await tx.assets.share({ id: newId(), assetId: id, nodeId, role }, actor.userId);
      await audit(
        tx,
        actor,
        'asset.share',
        { type: 'asset', id, tenantId: asset.tenantId },
        {
          nodeId,
          targetTenantId: target.tenantId,
          role,
        },
      );
      return s;
    });
    await this.ctx.changes.publish({ type: 'grants.changed' });
    return share;
  }

  async unshare(actor: Actor, id: string, shareId: string): Promise<void> {
    const asset = await this.owned(actor, id, 'assets.share');
    const removed = await this.ctx.store.transaction(async (tx) => {
      const r = await tx.assets.unshare(id, shareId);
      if (r)
        await audit(tx, actor, 'asset.unshare', { type: 'asset', id, tenantId: asset.tenantId }, { shareId });
      return r;
    });
    if (!removed) throw notFound('share');
    await this.ctx.changes.publish({ type: 'grants.changed' });
  }
}
