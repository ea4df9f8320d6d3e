/**
 * Property and fuzz tests: whatever the bytes, the SenML codec either returns records or throws a SenMLError, fast.
 * Runs are bounded (numRuns) and every call is timed.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
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
  type SenMLRecord,
  validateSenML,
} from '../../codecs/index.js';
import { pack } from './arbitraries.js';
import { vectors } from './vectors.js';

/** Override for a deeper run: FUZZ_RUNS=20000 npx vitest run test/codecs/senml-fuzz.test.ts */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
/** Per-test time limit, scaled for deep runs (the default run takes a second or two). */
const LIMIT = { timeout: Math.max(20_000, RUNS * 5) };
const NOW = 1_700_000_000;
/** Generous per-call CPU bound; a real hang or quadratic blow-up on ≤ 4 KiB inputs shows up far above it. */
const MAX_CALL_MS = 250;
const TYPES = [SENML_JSON, SENSML_JSON, SENML_CBOR, SENSML_CBOR];

type Outcome = { records: SenMLRecord[] } | { code: string };

/** Runs `fn`; anything thrown that is not a SenMLError fails the property. */
function outcome(fn: () => SenMLRecord[]): Outcome {
  // CPU time, not wall time: on a loaded machine the thread may be descheduled, which says nothing about the codec
  const started = process.cpuUsage();
  let result: Outcome;
  try {
    result = { records: fn() };
  } catch (error) {
    if (!(error instanceof SenMLError)) throw error;
    result = { code: error.code };
  }
  const used = process.cpuUsage(started);
  const ms = (used.user + used.system) / 1000;
  if (ms > MAX_CALL_MS) throw new Error(`call took ${ms.toFixed(0)} ms of CPU`);
  return result;
}

/** Every way in: parse under each content type, validate, strict check; all must agree on valid vs invalid. */
function exercise(bytes: Uint8Array): void {
  for (const type of TYPES) {
    const parsed = outcome(() => parseSenML(bytes, type, { now: NOW }));
    const validated = validateSenML(bytes, type);
    const strict = checkStrict(type, bytes);
    if ('records' in parsed) {
      expect(validated).toBeNull();
      expect(strict.ok).toBe(true);
      checkResolved(parsed.records);
    } else {
      expect(validated?.code).toBe(parsed.code);
      expect(strict.ok === false && strict.error.code).toBe(parsed.code);
    }
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9:./_-]*$/;

/** Invariants of any resolved pack. */
function checkResolved(records: readonly SenMLRecord[]): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    expect(r.n).toMatch(NAME);
    expect(Number.isFinite(r.t)).toBe(true);
    if (i > 0) expect(r.t).toBeGreaterThanOrEqual(records[i - 1]!.t);
    const values = [r.v, r.vs, r.vb, r.vd].filter((x) => x !== undefined).length;
    expect(values === 1 || (values === 0 && r.s !== undefined)).toBe(true);
    for (const x of [r.v, r.s, r.ut]) if (x !== undefined) expect(Number.isFinite(x)).toBe(true);
  }
}

// --- byte mutations ------------------------------------------------------------------------------------------------

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'truncate'; pos: number };

/** Bytes that steer CBOR into its corners: tags, breaks, indefinite lengths, simple values, 64-bit lengths. */
const interesting = fc.constantFrom(
  0xc1,
  0xc4,
  0xd8,
  0xd9,
  0xdf,
  0xff,
  0x9f,
  0xbf,
  0x7f,
  0x5f,
  0xf7,
  0xf8,
  0xfb,
  0x1b,
  0x3b,
  0x5b,
  0x45,
  0x22,
  0x5c,
);
const byte = fc.oneof(fc.nat(255), interesting);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte }),
  fc.record({
    kind: fc.constant('insert' as const),
    pos: fc.nat(),
    bytes: fc.array(byte, { minLength: 1, maxLength: 4 }).map((a) => Uint8Array.from(a)),
  }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(input);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.pos % bytes.length;
    switch (m.kind) {
      case 'flip':
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (bytes.length > 0) bytes[at] = m.byte;
        break;
      case 'insert':
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.len)]);
        break;
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
    }
  }
  return bytes;
}

const validPacks = vectors.valid.filter((v) => v.input !== null).map((v) => v.input!);
const jsonSeeds = validPacks.map((p) => Uint8Array.from(Buffer.from(JSON.stringify(p))));
const cborSeeds = [
  ...validPacks.map((p) => encodeSenMLCbor(p)),
  Uint8Array.from(Buffer.from(vectors.valid.find((v) => v.input === null)!.input_cbor_hex!, 'hex')),
];

describe('SenML fuzzing (bounded)', () => {
  it('random bytes: records or a SenMLError, under every content type', LIMIT, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => exercise(bytes)),
      { numRuns: RUNS },
    );
  });

  it('random bytes behind a CBOR pack header', LIMIT, () => {
    const head = fc.constantFrom([0x81], [0x81, 0xa2], [0x9f], [0x82, 0xa1, 0x00], [0x81, 0xbf, 0x02]);
    fc.assert(
      fc.property(head, fc.array(byte, { maxLength: 64 }), (h, rest) =>
        exercise(Uint8Array.from([...h, ...rest])),
      ),
      { numRuns: RUNS },
    );
  });

  it('mutated valid JSON packs', LIMIT, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...jsonSeeds),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (seed, ms) => exercise(mutate(seed, ms)),
      ),
      { numRuns: RUNS },
    );
  });

  it('mutated valid CBOR packs', LIMIT, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...cborSeeds),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (seed, ms) => exercise(mutate(seed, ms)),
      ),
      { numRuns: RUNS },
    );
  });

  it('arbitrary JSON values', LIMIT, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const viaValue = outcome(() => resolveSenML(value, { now: NOW }));
        const viaText = outcome(() => parseSenMLJson(JSON.stringify(value) ?? 'null', { now: NOW }));
        expect(viaText).toEqual(viaValue);
      }),
      { numRuns: RUNS },
    );
  });

  it('random SenML-ish packs: JSON and CBOR give the same records or the same error', LIMIT, () => {
    let valid = 0;
    fc.assert(
      fc.property(pack, (p) => {
        const fromJson = outcome(() => parseSenMLJson(Buffer.from(JSON.stringify(p)), { now: NOW }));
        const cbor = encodeSenMLCbor(p);
        const fromCbor = outcome(() => parseSenMLCbor(cbor, { now: NOW }));
        expect(fromCbor).toEqual(fromJson);
        if ('records' in fromJson) {
          valid++;
          checkResolved(fromJson.records);
        }
        exercise(cbor);
      }),
      { numRuns: RUNS },
    );
    // the generator must reach valid packs too, or the comparison proves little (≈ 60% of its packs are valid)
    expect(valid).toBeGreaterThan(RUNS / 4);
  });

  it('large random input stays fast', LIMIT, () => {
    const big = fc.uint8Array({ minLength: 4096, maxLength: 4096 });
    fc.assert(
      fc.property(big, (bytes) => exercise(bytes)),
      { numRuns: 50 },
    );
  });
});
