/** The append-only audit log: who did what to which entity, when. */
import type { Kysely } from 'kysely';
import type { Page } from '../filters.js';
import type { Database } from '../schema.js';
import { count, fromJson, iso, type JsonObject, now, toJson } from '../values.js';

export interface AuditEntry {
  id: number;
  at: string;
  actorId: string | null;
  tenantId: string | null;
  action: string;
  entityType: string;
  entityId: string;
  details: JsonObject;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export class AuditLogRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async append(entry: NewAuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: now(),
        actor_id: entry.actorId,
        tenant_id: entry.tenantId,
        action: entry.action,
        entity_type: entry.entityType,
        entity_id: entry.entityId,
        details: toJson(entry.details),
      })
      .execute();
  }

  /** Newest first. `tenantId` null lists everything (platform operators). */
  async list(options: {
    tenantId: string | null;
    entityId?: string;
    limit: number;
    offset: number;
  }): Promise<Page<AuditEntry>> {
    let q = this.db.selectFrom('audit_log');
    if (options.tenantId !== null) q = q.where('tenant_id', '=', options.tenantId);
    if (options.entityId !== undefined) q = q.where('entity_id', '=', options.entityId);
    const [rows, total] = await Promise.all([
      q.selectAll().orderBy('id', 'desc').limit(options.limit).offset(options.offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
    ]);
    return {
      items: rows.map((r) => ({
        id: Number(r.id),
        at: iso(r.at),
        actorId: r.actor_id,
        tenantId: r.tenant_id,
        action: r.action,
        entityType: r.entity_type,
        entityId: r.entity_id,
        details: fromJson(r.details),
      })),
      total: count(total?.n),
      limit: options.limit,
      offset: options.offset,
    };
  }
}
