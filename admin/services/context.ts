/**
 * What every service shares: the store, the change feed, the policy engine, the audit log, and
 * the conventions for lists (paging bounds) and optimistic updates (versions).
 */
import { randomUUID } from 'node:crypto';
import type { ChangeFeed } from '../../auth/change-feed.js';
import type { PolicyEngine } from '../../auth/policy.js';
import type { Versioned } from '../../storage/sql/repositories/audit-fields.js';
import type { SqlStore } from '../../storage/sql/store.js';
import type { JsonObject } from '../../storage/sql/values.js';
import type { Actor } from './actor.js';
import { notFound, stale } from './errors.js';

export interface ServiceContext {
  readonly store: SqlStore;
  readonly changes: ChangeFeed;
  readonly policy: PolicyEngine;
}

export interface Paging {
  limit?: number;
  offset?: number;
}

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 500;

export function paging(p: Paging): { limit: number; offset: number } {
  return {
    limit: Math.min(Math.max(p.limit ?? DEFAULT_LIMIT, 1), MAX_LIMIT),
    offset: Math.max(p.offset ?? 0, 0),
  };
}

export function newId(): string {
  return randomUUID();
}

/** The entity an optimistic update returned, or the matching 404 / 412. */
export function updated<T>(result: Versioned<T>, what: string): T {
  if (result === 'missing') throw notFound(what);
  if (result === 'stale') throw stale(what);
  return result;
}

/** Appends to the audit log (inside the caller's transaction when given its store). */
export function audit(
  store: SqlStore,
  actor: Actor | null,
  action: string,
  entity: { type: string; id: string; tenantId: string | null },
  details: JsonObject = {},
): Promise<void> {
  return store.audit.append({
    actorId: actor?.userId ?? null,
    tenantId: entity.tenantId,
    action,
    entityType: entity.type,
    entityId: entity.id,
    details,
  });
}
