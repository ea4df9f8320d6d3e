/** The organization tree: tenant roots and their customer / deployment / unit nodes. */
import type { Kysely, Selectable } from 'kysely';
import type { Engine } from '../engine.js';
import { inScope, type ListOptions, listFilters, type Page, pageOf, type Scope } from '../filters.js';
import type { Database, NodeKind, NodesTable } from '../schema.js';
import { count, fromJson, type JsonObject, now, toJson } from '../values.js';
import { type Audit, auditFields, type Versioned, versionedResult } from './audit-fields.js';

export interface OrgNode extends Audit {
  id: string;
  tenantId: string;
  parentId: string | null;
  kind: NodeKind;
  name: string;
  metadata: JsonObject;
  path: string;
}

export interface NewNode {
  id: string;
  tenantId: string;
  parentId: string | null;
  kind: NodeKind;
  name: string;
  metadata: JsonObject;
  path: string;
}

export interface NodeListOptions extends ListOptions {
  parentId?: string;
  kind?: NodeKind;
}

function toNode(row: Selectable<NodesTable>): OrgNode {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    parentId: row.parent_id,
    kind: row.kind,
    name: row.name,
    metadata: fromJson(row.metadata),
    path: row.path,
    ...auditFields(row),
  };
}

export class NodesRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
  ) {}

  async insert(node: NewNode, actor: string | null): Promise<OrgNode> {
    const at = now();
    const row = await this.db
      .insertInto('nodes')
      .values({
        id: node.id,
        tenant_id: node.tenantId,
        parent_id: node.parentId,
        kind: node.kind,
        name: node.name,
        metadata: toJson(node.metadata),
        path: node.path,
        version: 1,
        created_at: at,
        created_by: actor,
        updated_at: at,
        updated_by: actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toNode(row);
  }

  async get(id: string): Promise<OrgNode | undefined> {
    const row = await this.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toNode(row);
  }

  async getMany(ids: readonly string[]): Promise<OrgNode[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('nodes').selectAll().where('id', 'in', ids).execute();
    return rows.map(toNode);
  }

  async list(scope: Scope, options: NodeListOptions): Promise<Page<OrgNode>> {
    let q = this.db
      .selectFrom('nodes')
      .where(inScope(scope, 'nodes.path', 'nodes.id'))
      .where(listFilters(this.engine, options, { name: 'nodes.name', metadata: 'nodes.metadata' }));
    if (options.parentId !== undefined) q = q.where('parent_id', '=', options.parentId);
    if (options.kind !== undefined) q = q.where('kind', '=', options.kind);
    return pageOf(
      q.selectAll().orderBy('path').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
      toNode,
      options,
    );
  }

  async countChildren(id: string): Promise<number> {
    const r = await this.db
      .selectFrom('nodes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('parent_id', '=', id)
      .executeTakeFirst();
    return count(r?.n);
  }

  /** Updates name/metadata if `expectedVersion` (when given) still matches. */
  async update(
    id: string,
    patch: { name?: string; metadata?: JsonObject },
    actor: string | null,
    expectedVersion?: number,
  ): Promise<Versioned<OrgNode>> {
    let q = this.db
      .updateTable('nodes')
      .set((eb) => ({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.metadata !== undefined && { metadata: toJson(patch.metadata) }),
        version: eb('version', '+', 1),
        updated_at: now(),
        updated_by: actor,
      }))
      .where('id', '=', id);
    if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
    return versionedResult(await q.returningAll().executeTakeFirst(), toNode, () => this.get(id));
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('nodes').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Ids of the nodes at and below `path`. */
  async subtreeIds(path: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('nodes')
      .select('id')
      .where(inScope({ paths: [path] }, 'nodes.path', 'nodes.id'))
      .execute();
    return rows.map((r) => r.id);
  }
}
