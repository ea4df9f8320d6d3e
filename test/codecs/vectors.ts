/** Loads the shared SenML test vectors (read-only, outside the repository) and compares resolved records. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { SenMLErrorCode, SenMLPackRecord, SenMLRecord } from '../../codecs/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const vectorsPath = path.resolve(repoRoot, '../shared/vectors/senml-vectors.json');

export interface ValidVector {
  id: string;
  source: string;
  now?: number;
  input: SenMLPackRecord[] | null;
  input_cbor_hex?: string;
  expected_resolved: SenMLRecord[];
}

export interface InvalidVector {
  id: string;
  input: SenMLPackRecord[];
  expected_error: SenMLErrorCode;
  rule: string;
}

export interface Vectors {
  valid: ValidVector[];
  invalid: InvalidVector[];
  cbor_labels: Record<string, number>;
  media_types: Record<string, number>;
}

export const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8')) as Vectors;

const NUMBER_FIELDS = new Set(['v', 's', 'ut', 'bver']);

/**
 * The README's comparison: numbers as IEEE doubles, absolute tolerance 1e-6 for times, relative 1e-9 for values;
 * everything else exact. Fields that are undefined in `actual` count as absent.
 */
export function expectResolved(
  actual: readonly SenMLRecord[],
  expected: readonly SenMLRecord[],
  id: string,
): void {
  expect(actual.length, `${id}: record count`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const present = Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined));
    expect(Object.keys(present).sort(), `${id}[${i}] fields`).toEqual(Object.keys(e).sort());
    for (const [key, want] of Object.entries(e)) {
      const got = (present as Record<string, unknown>)[key];
      if (key === 't') {
        expect(Math.abs((got as number) - (want as number)), `${id}[${i}].t`).toBeLessThanOrEqual(1e-6);
      } else if (NUMBER_FIELDS.has(key)) {
        const w = want as number;
        const g = got as number;
        expect(Math.abs(g - w), `${id}[${i}].${key}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(w)));
      } else {
        expect(got, `${id}[${i}].${key}`).toEqual(want);
      }
    }
  }
}
