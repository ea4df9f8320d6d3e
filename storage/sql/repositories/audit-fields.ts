/** The audit columns every editable entity carries, and how an optimistic update reports failure. */
import { iso } from '../values.js';

export interface Audit {
  /** Bumped by every update; the ETag. */
  version: number;
  createdAt: string;
  createdBy: string | null;
  updatedAt: string;
  updatedBy: string | null;
}

/** The updated entity, or why there is none: no such row, or its version moved on (412). */
export type Versioned<T> = T | 'missing' | 'stale';

export function auditFields(row: {
  version: number;
  created_at: string | Date;
  created_by: string | null;
  updated_at: string | Date;
  updated_by: string | null;
}): Audit {
  return {
    version: row.version,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
    updatedAt: iso(row.updated_at),
    updatedBy: row.updated_by,
  };
}

/**
 * The outcome of `UPDATE … [WHERE version = expected] RETURNING`: the updated entity, or whether
 * there was no such row ('missing') or its version had moved on ('stale').
 */
export async function versionedResult<R, T>(
  row: R | undefined,
  map: (row: R) => T,
  current: () => Promise<unknown>,
): Promise<Versioned<T>> {
  if (row !== undefined) return map(row);
  return (await current()) === undefined ? 'missing' : 'stale';
}
