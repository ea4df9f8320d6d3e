/**
 * Constraint violations, recognised the same way on both engines so services can answer 409
 * instead of 500: better-sqlite3 sets `code` to `SQLITE_CONSTRAINT_*`, pg sets the SQLSTATE.
 */

export type ConstraintKind = 'unique' | 'foreign-key';

export function constraintViolation(err: unknown): ConstraintKind | null {
  if (typeof err !== 'object' || err === null || !('code' in err)) return null;
  const code = (err as { code: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') {
    return 'unique';
  }
  // SQLite reports an ON DELETE RESTRICT refusal as a trigger constraint, NO ACTION as a foreign key.
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') return 'foreign-key';
  if (
    code === 'SQLITE_CONSTRAINT_TRIGGER' &&
    /FOREIGN KEY/i.test(String((err as { message?: unknown }).message))
  ) {
    return 'foreign-key';
  }
  return null;
}
