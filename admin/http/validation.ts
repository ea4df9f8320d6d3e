/**
 * Request validation with compiled TypeBox checkers. Query and path values arrive as strings and
 * are converted to the schema's types first (`?limit=5` → 5). The first error becomes the message.
 */
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

export class Validator<T = unknown> {
  private readonly check: TypeCheck<TSchema>;

  constructor(
    private readonly schema: TSchema,
    private readonly where: string,
  ) {
    this.check = TypeCompiler.Compile(schema);
  }

  /** The valid value, or the message saying what is wrong. */
  validate(value: unknown, convert: boolean): { ok: true; value: T } | { ok: false; message: string } {
    let v = value;
    if (convert) v = Value.Convert(this.schema, Value.Clone(value));
    if (this.check.Check(v)) return { ok: true, value: v as T };
    const first = this.check.Errors(v).First();
    const path = first?.path ? first.path.replace(/^\//, '').replace(/\//g, '.') : '';
    const message = first
      ? `${this.where}${path ? `.${path}` : ''}: ${first.message}`
      : `${this.where} is invalid`;
    return { ok: false, message };
  }
}
