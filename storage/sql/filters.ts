/**
 * The list filters every repository shares: visibility scope (subtrees of the organization tree,
 * plus individually granted ids), name substring, metadata equality, and `limit`/`offset` paging.
 * Built as SQL fragments so one definition serves every table; the only engine-specific part is
 * matching keys inside a JSON column.
 */
import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Engine } from './engine.js';
import { containsPattern, count, type JsonObject, subtreePattern } from './values.js';

/**
 * What a caller may see: everything, or the subtrees under some materialized paths plus some
 * individual ids (e.g. assets shared with the caller's organization).
 */
export type Scope =
  | { readonly all: true }
  | { readonly paths: readonly string[]; readonly ids?: readonly string[] };

export const EVERYTHING: Scope = Object.freeze({ all: true });

export interface ListOptions {
  limit: number;
  offset: number;
  /** Case-insensitive substring of the name. */
  name?: string;
  /** Top-level keys whose values must equal these (scalars only). */
  metadata?: JsonObject;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

const NOTHING = sql<SqlBool>`1 = 0`;
const ANYTHING = sql<SqlBool>`1 = 1`;

/** `pathColumn` lies under one of the scope's paths, or `idColumn` is one of its ids. */
export function inScope(scope: Scope, pathColumn: string, idColumn: string): RawBuilder<SqlBool> {
  if ('all' in scope) return ANYTHING;
  const parts: RawBuilder<SqlBool>[] = scope.paths.map(
    (p) => sql<SqlBool>`${sql.ref(pathColumn)} like ${subtreePattern(p)} escape '\\'`,
  );
  if (scope.ids !== undefined && scope.ids.length > 0) {
    parts.push(sql<SqlBool>`${sql.ref(idColumn)} in (${sql.join(scope.ids)})`);
  }
  if (parts.length === 0) return NOTHING;
  return sql<SqlBool>`(${sql.join(parts, sql` or `)})`;
}

export function nameContains(column: string, text: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${containsPattern(text)} escape '\\'`;
}

/**
 * Every key of `wanted` is present in the JSON column with an equal scalar value. PostgreSQL: jsonb
 * containment. SQLite: `json_type`/`json_extract` per key (json_type keeps `true` apart from 1).
 */
export function metadataMatches(engine: Engine, column: string, wanted: JsonObject): RawBuilder<SqlBool> {
  if (engine === 'postgres') {
    return sql<SqlBool>`${sql.ref(column)} @> ${JSON.stringify(wanted)}::jsonb`;
  }
  const parts = Object.entries(wanted).map(([key, value]) => {
    const path = `$."${key.replace(/["\\]/g, '')}"`;
    const ref = sql.ref(column);
    if (value === null) return sql<SqlBool>`json_type(${ref}, ${path}) = 'null'`;
    if (value === true) return sql<SqlBool>`json_type(${ref}, ${path}) = 'true'`;
    if (value === false) return sql<SqlBool>`json_type(${ref}, ${path}) = 'false'`;
    if (typeof value === 'number') {
      return sql<SqlBool>`(json_type(${ref}, ${path}) in ('integer', 'real') and json_extract(${ref}, ${path}) = ${value})`;
    }
    if (typeof value === 'string') {
      return sql<SqlBool>`(json_type(${ref}, ${path}) = 'text' and json_extract(${ref}, ${path}) = ${value})`;
    }
    // Objects and arrays: compare their canonical JSON text.
    return sql<SqlBool>`json(json_extract(${ref}, ${path})) = json(${JSON.stringify(value)})`;
  });
  return parts.length === 0 ? ANYTHING : sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

/** The filters of `options` (name, metadata) as one condition. */
export function listFilters(
  engine: Engine,
  options: Pick<ListOptions, 'name' | 'metadata'>,
  columns: { name: string; metadata: string },
): Expression<SqlBool> {
  const parts: RawBuilder<SqlBool>[] = [];
  if (options.name !== undefined && options.name !== '') parts.push(nameContains(columns.name, options.name));
  if (options.metadata !== undefined && Object.keys(options.metadata).length > 0) {
    parts.push(metadataMatches(engine, columns.metadata, options.metadata));
  }
  return parts.length === 0 ? ANYTHING : sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

/** One page of a list: the rows query and its count query run together, rows mapped to entities. */
export async function pageOf<R, T>(
  rows: Promise<R[]>,
  total: Promise<{ n: string | number | bigint } | undefined>,
  map: (row: R) => T,
  options: ListOptions,
): Promise<Page<T>> {
  const [found, counted] = await Promise.all([rows, total]);
  return { items: found.map(map), total: count(counted?.n), limit: options.limit, offset: options.offset };
}
