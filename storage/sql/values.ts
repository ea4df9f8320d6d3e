/**
 * Turning what each engine returns into one shape, and shaping what we write so both accept it.
 * Timestamps are written as ISO-8601 text (valid for SQLite text and PostgreSQL timestamptz);
 * JSON as text (SQLite text, PostgreSQL jsonb); flags as 0/1.
 */

export type JsonObject = Record<string, unknown>;

/** A timestamp column's value as ISO-8601 text. */
export function iso(value: string | Date): string {
  return typeof value === 'string' ? value : value.toISOString();
}

export function isoOrNull(value: string | Date | null): string | null {
  return value === null ? null : iso(value);
}

/** A JSON column's value: parsed text (SQLite) or the object pg already parsed (jsonb). */
export function fromJson<T = JsonObject>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value ?? {});
}

export function flag(value: boolean): number {
  return value ? 1 : 0;
}

/** A `count(*)`: a number on SQLite, a bigint string from pg. */
export function count(value: string | number | bigint | undefined | null): number {
  return value === undefined || value === null ? 0 : Number(value);
}

export function now(): string {
  return new Date().toISOString();
}

/** A `LIKE` pattern matching `text` anywhere, with LIKE's wildcards in `text` escaped (ESCAPE '\'). */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** A `LIKE` pattern for everything below a materialized path. */
export function subtreePattern(path: string): string {
  return `${path.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
