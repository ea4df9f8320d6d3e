/** Things (devices): identity, metadata, the keyed hash of their secret, enabled or not. */
import type { Kysely, Selectable } from 'kysely';
import type { Engine } from '../engine.js';
import { inScope, type ListOptions, listFilters, type Page, pageOf, type Scope } from '../filters.js';
import type { Database, EntityStatus, ThingsTable } from '../schema.js';
import { count, fromJson, type JsonObject, now, toJson } from '../values.js';
import { type Audit, auditFields, type Versioned, versionedResult } from './audit-fields.js';

export interface Thing extends Audit {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  name: string;
  metadata: JsonObject;
  status: EntityStatus;
}

/** A thing with its secret's keyed hash, for authentication only. */
export interface ThingCredentials extends Thing {
  secretHash: string;
}

export interface NewThing {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  name: string;
  metadata: JsonObject;
  secretHash: string;
  status: EntityStatus;
}

function toThing(row: Selectable<ThingsTable>): Thing {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    nodeId: row.node_id,
    nodePath: row.node_path,
    name: row.name,
    metadata: fromJson(row.metadata),
    status: row.status,
    ...auditFields(row),
  };
}

export class ThingsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
  ) {}

  async insert(thing: NewThing, actor: string | null): Promise<Thing> {
    const at = now();
    const row = await this.db
      .insertInto('things')
      .values({
        id: thing.id,
        tenant_id: thing.tenantId,
        node_id: thing.nodeId,
        node_path: thing.nodePath,
        name: thing.name,
        metadata: toJson(thing.metadata),
        secret_hash: thing.secretHash,
        status: thing.status,
        version: 1,
        created_at: at,
        created_by: actor,
        updated_at: at,
        updated_by: actor,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toThing(row);
  }

  async get(id: string): Promise<Thing | undefined> {
    const row = await this.db.selectFrom('things').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toThing(row);
  }

  async credentials(id: string): Promise<ThingCredentials | undefined> {
    const row = await this.db.selectFrom('things').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { ...toThing(row), secretHash: row.secret_hash };
  }

  /** The thing whose secret hashes to `secretHash` (unique index): `Thing <secret>` and CoAP `?auth=`. */
  async bySecretHash(secretHash: string): Promise<ThingCredentials | undefined> {
    const row = await this.db
      .selectFrom('things')
      .selectAll()
      .where('secret_hash', '=', secretHash)
      .executeTakeFirst();
    return row && { ...toThing(row), secretHash: row.secret_hash };
  }

  async list(scope: Scope, options: ListOptions & { status?: EntityStatus }): Promise<Page<Thing>> {
    let q = this.db
      .selectFrom('things')
      .where(inScope(scope, 'things.node_path', 'things.id'))
      .where(listFilters(this.engine, options, { name: 'things.name', metadata: 'things.metadata' }));
    if (options.status !== undefined) q = q.where('status', '=', options.status);
    return pageOf(
      q.selectAll().orderBy('name').orderBy('id').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
      toThing,
      options,
    );
  }

  async update(
    id: string,
    patch: { name?: string; metadata?: JsonObject; status?: EntityStatus; secretHash?: string },
    actor: string | null,
    expectedVersion?: number,
  ): Promise<Versioned<Thing>> {
    let q = this.db
      .updateTable('things')
      .set((eb) => ({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.metadata !== undefined && { metadata: toJson(patch.metadata) }),
        ...(patch.status !== undefined && { status: patch.status }),
        ...(patch.secretHash !== undefined && { secret_hash: patch.secretHash }),
        version: eb('version', '+', 1),
        updated_at: now(),
        updated_by: actor,
      }))
      .where('id', '=', id);
    if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
    return versionedResult(await q.returningAll().executeTakeFirst(), toThing, () => this.get(id));
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('things').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async countInNode(nodeId: string): Promise<number> {
    const r = await this.db
      .selectFrom('things')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    return count(r?.n);
  }
}
