/** Channels: where messages flow (`channels/<id>/messages/...`), with an optional strict SenML mode. */
import type { Kysely, Selectable } from 'kysely';
import type { Engine } from '../engine.js';
import { inScope, type ListOptions, listFilters, type Page, type Scope } from '../filters.js';
import type { ChannelsTable, Database } from '../schema.js';
import { count, flag, fromJson, type JsonObject, now, toJson } from '../values.js';
import { type Audit, auditFields, type Versioned, versionedResult } from './audit-fields.js';

export interface Channel extends Audit {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  name: string;
  metadata: JsonObject;
  strictSenml: boolean;
}

export interface NewChannel {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  name: string;
  metadata: JsonObject;
  strictSenml: boolean;
}

function toChannel(row: Selectable<ChannelsTable>): Channel {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    nodeId: row.node_id,
    nodePath: row.node_path,
    name: row.name,
    metadata: fromJson(row.metadata),
    strictSenml: row.strict_senml === 1,
    ...auditFields(row),
  };
}

export class ChannelsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
  ) {}

  async insert(channel: NewChannel, actor: string | null): Promise<Channel> {
    const at = now();
    const row = await this.db
      .insertInto('channels')
      .values({
        id: channel.id,
        tenant_id: channel.tenantId,
        node_id: channel.nodeId,
        node_path: channel.nodePath,
        name: channel.name,
        metadata: toJson(channel.metadata),
        strict_senml: flag(channel.strictSenml),
        version: 1,
        created_at: at,
        created_by: actor,
        updated_at: at,
        updated_by: actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toChannel(row);
  }

  async get(id: string): Promise<Channel | undefined> {
    const row = await this.db.selectFrom('channels').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toChannel(row);
  }

  async list(scope: Scope, options: ListOptions): Promise<Page<Channel>> {
    const q = this.db
      .selectFrom('channels')
      .where(inScope(scope, 'channels.node_path', 'channels.id'))
      .where(listFilters(this.engine, options, { name: 'channels.name', metadata: 'channels.metadata' }));
    const [rows, total] = await Promise.all([
      q.selectAll().orderBy('name').orderBy('id').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
    ]);
    return {
      items: rows.map(toChannel),
      total: count(total?.n),
      limit: options.limit,
      offset: options.offset,
    };
  }

  async update(
    id: string,
    patch: { name?: string; metadata?: JsonObject; strictSenml?: boolean },
    actor: string | null,
    expectedVersion?: number,
  ): Promise<Versioned<Channel>> {
    let q = this.db
      .updateTable('channels')
      .set((eb) => ({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.metadata !== undefined && { metadata: toJson(patch.metadata) }),
        ...(patch.strictSenml !== undefined && { strict_senml: flag(patch.strictSenml) }),
        version: eb('version', '+', 1),
        updated_at: now(),
        updated_by: actor,
      }))
      .where('id', '=', id);
    if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
    return versionedResult(await q.returningAll().executeTakeFirst(), toChannel, () => this.get(id));
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('channels').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Ids of the channels in strict SenML mode. */
  async strictIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('channels').select('id').where('strict_senml', '=', 1).execute();
    return rows.map((r) => r.id);
  }

  async countInNode(nodeId: string): Promise<number> {
    const r = await this.db
      .selectFrom('channels')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return count(r?.n);
  }
}
