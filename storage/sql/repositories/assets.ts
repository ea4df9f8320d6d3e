/**
 * Assets: UUID-keyed, typed properties, owned by one node; linked to the channels that carry their
 * telemetry; shared with other organizations, each share carrying a role.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Engine } from '../engine.js';
import { inScope, type ListOptions, listFilters, type Page, pageOf, type Scope } from '../filters.js';
import type { AssetSharesTable, AssetsTable, Database } from '../schema.js';
import { count, fromJson, iso, type JsonObject, now, toJson } from '../values.js';
import { type Audit, auditFields, type Versioned, versionedResult } from './audit-fields.js';

export type PropertyType = 'string' | 'number' | 'boolean' | 'json';

export interface TypedProperty {
  type: PropertyType;
  value: unknown;
}

export interface Asset extends Audit {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  name: string;
  type: string;
  properties: Record<string, TypedProperty>;
  metadata: JsonObject;
}

export interface NewAsset {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  name: string;
  type: string;
  properties: Record<string, TypedProperty>;
  metadata: JsonObject;
}

export interface AssetShare {
  id: string;
  assetId: string;
  nodeId: string;
  role: string;
  createdAt: string;
  createdBy: string | null;
}

/** A share as the policy engine needs it: the target organization's path and the share's role. */
export interface ShareGrant {
  assetId: string;
  targetPath: string;
  role: string;
}

function toAsset(row: Selectable<AssetsTable>): Asset {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    nodeId: row.node_id,
    nodePath: row.node_path,
    name: row.name,
    type: row.type,
    properties: fromJson(row.properties),
    metadata: fromJson(row.metadata),
    ...auditFields(row),
  };
}

function toShare(row: Selectable<AssetSharesTable>): AssetShare {
  return {
    id: row.id,
    assetId: row.asset_id,
    nodeId: row.node_id,
    role: row.role,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
  };
}

export class AssetsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
  ) {}

  async insert(asset: NewAsset, actor: string | null): Promise<Asset> {
    const at = now();
    const row = await this.db
      .insertInto('assets')
      .values({
        id: asset.id,
        tenant_id: asset.tenantId,
        node_id: asset.nodeId,
        node_path: asset.nodePath,
        name: asset.name,
        type: asset.type,
        properties: toJson(asset.properties),
        metadata: toJson(asset.metadata),
        version: 1,
        created_at: at,
        created_by: actor,
        updated_at: at,
        updated_by: actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toAsset(row);
  }

  async get(id: string): Promise<Asset | undefined> {
    const row = await this.db.selectFrom('assets').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toAsset(row);
  }

  async list(scope: Scope, options: ListOptions & { type?: string }): Promise<Page<Asset>> {
    let q = this.db
      .selectFrom('assets')
      .where(inScope(scope, 'assets.node_path', 'assets.id'))
      .where(listFilters(this.engine, options, { name: 'assets.name', metadata: 'assets.metadata' }));
    if (options.type !== undefined) q = q.where('type', '=', options.type);
    return pageOf(
      q.selectAll().orderBy('name').orderBy('id').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
      toAsset,
      options,
    );
  }

  async update(
    id: string,
    patch: {
      name?: string;
      type?: string;
      properties?: Record<string, TypedProperty>;
      metadata?: JsonObject;
    },
    actor: string | null,
    expectedVersion?: number,
  ): Promise<Versioned<Asset>> {
    let q = this.db
      .updateTable('assets')
      .set((eb) => ({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.type !== undefined && { type: patch.type }),
        ...(patch.properties !== undefined && { properties: toJson(patch.properties) }),
        ...(patch.metadata !== undefined && { metadata: toJson(patch.metadata) }),
        version: eb('version', '+', 1),
        updated_at: now(),
        updated_by: actor,
      }))
      .where('id', '=', id);
    if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
    return versionedResult(await q.returningAll().executeTakeFirst(), toAsset, () => this.get(id));
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('assets').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async countInNode(nodeId: string): Promise<number> {
    const r = await this.db
      .selectFrom('assets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return count(r?.n);
  }

  // ---- channels carrying the asset's telemetry ----

  async linkChannel(assetId: string, channelId: string): Promise<void> {
    await this.db
      .insertInto('asset_channels')
      .values({ asset_id: assetId, channel_id: channelId })
      .onConflict((oc) => oc.columns(['asset_id', 'channel_id']).doNothing())
      .execute();
  }

  async unlinkChannel(assetId: string, channelId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('asset_channels')
      .where('asset_id', '=', assetId)
      .where('channel_id', '=', channelId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async channelsOf(assetId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('asset_channels')
      .select('channel_id')
      .where('asset_id', '=', assetId)
      .orderBy('channel_id')
      .execute();
    return rows.map((r) => r.channel_id);
  }

  // ---- shares ----

  async share(
    s: { id: string; assetId: string; nodeId: string; role: string },
    actor: string | null,
  ): Promise<AssetShare> {
    const row = await this.db
      .insertInto('asset_shares')
      .values({
        id: s.id,
        asset_id: s.assetId,
        node_id: s.nodeId,
        role: s.role,
        created_at: now(),
        created_by: actor,
      })
      .onConflict((oc) => oc.columns(['asset_id', 'node_id']).doUpdateSet({ role: s.role }))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toShare(row);
  }

  async unshare(assetId: string, shareId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('asset_shares')
      .where('asset_id', '=', assetId)
      .where('id', '=', shareId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async sharesOf(assetId: string): Promise<AssetShare[]> {
    const rows = await this.db
      .selectFrom('asset_shares')
      .selectAll()
      .where('asset_id', '=', assetId)
      .orderBy('created_at')
      .execute();
    return rows.map(toShare);
  }

  /** Shares of `assetId` with their target organization's path. */
  async shareGrants(assetId: string): Promise<ShareGrant[]> {
    const rows = await this.db
      .selectFrom('asset_shares as s')
      .innerJoin('nodes as n', 'n.id', 's.node_id')
      .select(['s.asset_id', 'n.path', 's.role'])
      .where('s.asset_id', '=', assetId)
      .execute();
    return rows.map((r) => ({ assetId: r.asset_id, targetPath: r.path, role: r.role }));
  }

  /** Shares of every asset that carries `channelId`'s telemetry. */
  async shareGrantsForChannel(channelId: string): Promise<ShareGrant[]> {
    const rows = await this.db
      .selectFrom('asset_channels as ac')
      .innerJoin('asset_shares as s', 's.asset_id', 'ac.asset_id')
      .innerJoin('nodes as n', 'n.id', 's.node_id')
      .select(['s.asset_id', 'n.path', 's.role'])
      .where('ac.channel_id', '=', channelId)
      .execute();
    return rows.map((r) => ({ assetId: r.asset_id, targetPath: r.path, role: r.role }));
  }

  /** Shares whose target organization lies in `scope` (what a caller's organizations were given). */
  async sharesInto(scope: Scope): Promise<ShareGrant[]> {
    const rows = await this.db
      .selectFrom('asset_shares as s')
      .innerJoin('nodes as n', 'n.id', 's.node_id')
      .select(['s.asset_id', 'n.path', 's.role'])
      .where(inScope(scope, 'n.path', 'n.id'))
      .execute();
    return rows.map((r) => ({ assetId: r.asset_id, targetPath: r.path, role: r.role }));
  }
}
