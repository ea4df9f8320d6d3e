import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  CBOR_LABELS,
  checkStrict,
  encodeSenMLCbor,
  parseSenML,
  parseSenMLCbor,
  parseSenMLJson,
  resolveSenML,
  SENML_CBOR,
  SENML_JSON,
  SENSML_CBOR,
  SENSML_JSON,
  SenMLError,
  validateSenML,
} from '../../codecs/index.js';
import { encodeCbor } from '../../codecs/senml-cbor.js';
import { expectResolved, vectors } from './vectors.js';

/** For vectors without relative times the result must not depend on "now": resolve against an unrelated one. */
const OTHER_NOW = 1_234_567_890.5;

function catchError(fn: () => unknown): SenMLError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SenMLError);
    return error as SenMLError;
  }
  throw new Error('expected a SenMLError, nothing was thrown');
}

describe('shared SenML vectors', () => {
  it('has the documented number of vectors', () => {
    expect(vectors.valid).toHaveLength(18);
    expect(vectors.invalid).toHaveLength(16);
  });

  it('uses the CBOR labels of the vector file', () => {
    expect({ ...CBOR_LABELS }).toEqual(vectors.cbor_labels);
  });

  describe('valid packs resolve to the expected records', () => {
    for (const v of vectors.valid) {
      const now = v.now ?? OTHER_NOW;
      if (v.input !== null) {
        const input = v.input;
        it(`${v.id} (JSON)`, () => {
          const bytes = Buffer.from(JSON.stringify(input));
          expectResolved(parseSenMLJson(bytes, { now }), v.expected_resolved, v.id);
          expectResolved(parseSenML(bytes, SENML_JSON, { now }), v.expected_resolved, v.id);
          expectResolved(parseSenML(bytes, SENSML_JSON, { now }), v.expected_resolved, v.id);
          expectResolved(resolveSenML(input, { now }), v.expected_resolved, v.id);
          expect(validateSenML(bytes, SENML_JSON)).toBeNull();
          expect(checkStrict(SENML_JSON, bytes)).toEqual({ ok: true });
        });
        it(`${v.id} (same pack as CBOR)`, () => {
          const bytes = encodeSenMLCbor(input);
          expectResolved(parseSenMLCbor(bytes, { now }), v.expected_resolved, v.id);
          expectResolved(parseSenML(bytes, SENML_CBOR, { now }), v.expected_resolved, v.id);
          expectResolved(parseSenML(bytes, SENSML_CBOR, { now }), v.expected_resolved, v.id);
          expect(validateSenML(bytes, SENML_CBOR)).toBeNull();
          expect(checkStrict(SENML_CBOR, bytes)).toEqual({ ok: true });
        });
      } else {
        it(`${v.id} (RFC 8428 §6 CBOR bytes)`, () => {
          const bytes = Buffer.from(v.input_cbor_hex!, 'hex');
          expect(bytes.byteLength).toBe(195);
          expectResolved(parseSenMLCbor(bytes, { now }), v.expected_resolved, v.id);
          expectResolved(parseSenML(bytes, SENML_CBOR, { now }), v.expected_resolved, v.id);
          expect(validateSenML(bytes, SENML_CBOR)).toBeNull();
        });
      }
    }

    it('the CBOR vector resolves exactly like the JSON bver-5 vector', () => {
      const cbor = vectors.valid.find((v) => v.id === 'rfc8428-6-cbor-same-pack')!;
      const json = vectors.valid.find((v) => v.id === 'rfc8428-5.1.2-multiple-data-points-bver5')!;
      expect(parseSenMLCbor(Buffer.from(cbor.input_cbor_hex!, 'hex'))).toEqual(
        parseSenMLJson(JSON.stringify(json.input)),
      );
    });

    it('vectors with relative times depend on now exactly by the shift of now', () => {
      for (const v of vectors.valid.filter((x) => x.now !== undefined && x.input !== null)) {
        const a = parseSenMLJson(JSON.stringify(v.input), { now: v.now! });
        const b = parseSenMLJson(JSON.stringify(v.input), { now: v.now! + 100 });
        const relative = a.map((r, i) => b[i]!.t - r.t);
        // every record of these vectors is relative, except those at or above 2^28 (syn-2pow28 record 0)
        expect(
          relative.every((d) => d === 100 || d === 0),
          v.id,
        ).toBe(true);
        expect(
          relative.some((d) => d === 100),
          v.id,
        ).toBe(true);
      }
    });
  });

  describe('invalid packs fail with the expected error class', () => {
    for (const v of vectors.invalid) {
      it(`${v.id} → ${v.expected_error} (JSON)`, () => {
        const bytes = Buffer.from(JSON.stringify(v.input));
        const error = catchError(() => parseSenMLJson(bytes));
        expect(error.code).toBe(v.expected_error);
        expect(error.rule.length).toBeGreaterThan(0);
        expect(catchError(() => resolveSenML(v.input)).code).toBe(v.expected_error);
        expect(validateSenML(bytes, SENML_JSON)?.code).toBe(v.expected_error);
        const strict = checkStrict(SENML_JSON, bytes);
        expect(strict.ok).toBe(false);
        if (!strict.ok) expect(strict.error.code).toBe(v.expected_error);
      });

      it(`${v.id} → ${v.expected_error} (CBOR)`, () => {
        // vd is a byte string in CBOR, so the base64 padding case is expressed as vd of the wrong type (text)
        const bytes =
          v.id === 'vd-standard-base64-with-padding'
            ? encodeCbor([
                new Map<number, string>([
                  [0, 'a'],
                  [8, 'aGkgCg=='],
                ]),
              ])
            : encodeSenMLCbor(v.input);
        const error = catchError(() => parseSenMLCbor(bytes));
        expect(error.code).toBe(v.expected_error);
        expect(validateSenML(bytes, SENML_CBOR)?.code).toBe(v.expected_error);
      });
    }

    it('errors name the record and the label', () => {
      const mismatch = catchError(() =>
        resolveSenML(vectors.invalid.find((v) => v.id === 'version-mismatch')!.input),
      );
      expect(mismatch.index).toBe(1);
      expect(mismatch.label).toBe('bver');
      expect(mismatch.message).toMatch(/^record 1: /);
      const vb = catchError(() => resolveSenML(vectors.invalid.find((v) => v.id === 'vb-is-string')!.input));
      expect(vb).toMatchObject({ code: 'type', index: 0, label: 'vb' });
      const mu = catchError(() =>
        resolveSenML(vectors.invalid.find((v) => v.id === 'must-understand-label')!.input),
      );
      expect(mu).toMatchObject({ code: 'must-understand', index: 0, label: 'foo_' });
      const empty = catchError(() => resolveSenML([]));
      expect(empty).toMatchObject({ code: 'not-a-pack', index: -1 });
    });
  });
});
