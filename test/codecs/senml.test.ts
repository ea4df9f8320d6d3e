import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  checkStrict,
  classifyContentType,
  coapContentFormat,
  contentTypeFromCoAP,
  decodeDataValue,
  encodeSenMLCbor,
  isSenMLContentType,
  normalizeContentType,
  OCTET_STREAM,
  parseSenML,
  parseSenMLCbor,
  parseSenMLJson,
  resolveSenML,
  SENML_CBOR,
  SENML_JSON,
  SENML_XML,
  SENSML_CBOR,
  SenMLError,
  type SenMLErrorCode,
  type SenMLPackRecord,
  validateSenML,
} from '../../codecs/index.js';
import { type CborValue, encodeCbor, MAX_DEPTH, scanSenMLCbor } from '../../codecs/senml-cbor.js';
import { vectors } from './vectors.js';

const NOW = 1_700_000_000;
const hex = (h: string): Uint8Array => Buffer.from(h.replace(/\s+/g, ''), 'hex');

function errorOf(fn: () => unknown): SenMLError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SenMLError) return error;
    throw error;
  }
  throw new Error('expected a SenMLError');
}

function cborCode(bytes: Uint8Array, stream = false): SenMLErrorCode | 'ok' {
  const error = validateSenML(bytes, stream ? SENSML_CBOR : SENML_CBOR);
  return error === null ? 'ok' : error.code;
}

function jsonCode(text: string | Uint8Array): SenMLErrorCode | 'ok' {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const error = validateSenML(bytes, SENML_JSON);
  return error === null ? 'ok' : error.code;
}

const json = (pack: unknown, now = NOW) => parseSenMLJson(JSON.stringify(pack), { now });

describe('SenMLError', () => {
  it('is an Error with code, record index, rule and label, and survives a plain-data round trip', () => {
    const error = errorOf(() =>
      json([
        { n: 'a', v: 1 },
        { n: 'b', v: 'x' },
      ]),
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SenMLError');
    expect(error).toMatchObject({ code: 'type', index: 1, label: 'v' });
    expect(error.message).toBe('record 1: "v" must be a finite number');
    expect(error.rule).toMatch(/RFC 8428/);
    const data = structuredClone(error.toJSON());
    const back = SenMLError.fromJSON(data);
    expect(back).toBeInstanceOf(SenMLError);
    expect(back.toJSON()).toEqual(error.toJSON());
    expect(SenMLError.fromJSON({ ...data, code: 'bogus' as SenMLErrorCode }).code).toBe('syntax');
  });
});

describe('SenML JSON', () => {
  it('accepts bytes and strings', () => {
    expect(parseSenMLJson('[{"n":"a","v":1}]', { now: NOW })).toEqual(json([{ n: 'a', v: 1 }]));
  });

  it('rejects bytes that are not UTF-8, a BOM, and malformed JSON as syntax', () => {
    expect(jsonCode(Uint8Array.from([0x5b, 0xff, 0x5d]))).toBe('syntax');
    expect(jsonCode('\uFEFF[{"n":"a","v":1}]')).toBe('syntax');
    expect(jsonCode('[{"n":"a","v":1}')).toBe('syntax');
    expect(jsonCode('')).toBe('syntax');
    expect(jsonCode('[{"n":"a","v":01}]')).toBe('syntax');
  });

  it('rejects an upper-case exponent (RFC 8428 §5) but not an E inside strings', () => {
    expect(jsonCode('[{"n":"a","v":1E5}]')).toBe('syntax');
    expect(jsonCode('[{"n":"a","v":1e5}]')).toBe('ok');
    expect(jsonCode('[{"n":"Ea","u":"%EL","v":1e-5}]')).toBe('ok');
    expect(jsonCode('[{"n":"a","vs":"\\"E\\\\"}]')).toBe('ok');
    expect(jsonCode('[{"n":"a","vs":"\\"","v":2E1}]')).toBe('syntax');
  });

  it('rejects numbers that overflow a double', () => {
    expect(errorOf(() => parseSenMLJson('[{"n":"a","v":1e400}]'))).toMatchObject({
      code: 'type',
      label: 'v',
    });
  });

  it('requires an array of objects', () => {
    expect(jsonCode('{"n":"a","v":1}')).toBe('not-a-pack');
    expect(jsonCode('null')).toBe('not-a-pack');
    expect(errorOf(() => json([{ n: 'a', v: 1 }, [1]]))).toMatchObject({ code: 'not-a-pack', index: 1 });
    expect(errorOf(() => json([null]))).toMatchObject({ code: 'not-a-pack', index: 0 });
  });

  it('ignores unknown labels, rejects unknown labels ending in _ (even __proto__)', () => {
    expect(json([{ n: 'a', v: 1, foo: { x: [1, 2] }, ct: '60' }])).toHaveLength(1);
    expect(errorOf(() => parseSenMLJson('[{"n":"a","v":1,"__proto__":{}}]'))).toMatchObject({
      code: 'must-understand',
      label: '__proto__',
    });
  });

  it('checks vd is canonical base64url without padding', () => {
    expect(json([{ n: 'a', vd: 'AAECAwQF_-8' }])[0]!.vd).toBe('AAECAwQF_-8');
    expect(errorOf(() => json([{ n: 'a', vd: 'a+b/' }])).code).toBe('type');
    expect(errorOf(() => json([{ n: 'a', vd: 'abcde' }])).code).toBe('type'); // length % 4 == 1
    expect(errorOf(() => json([{ n: 'a', vd: '-0' }])).code).toBe('type'); // unused bits set: not canonical ('-w')
    expect(errorOf(() => json([{ n: 'a', vd: 'AAB' }])).code).toBe('type'); // canonical would be 'AAA'
    expect(json([{ n: 'a', vd: '-w' }])[0]!.vd).toBe('-w');
    expect(json([{ n: 'a', vd: 'AAA' }])[0]!.vd).toBe('AAA');
    expect([...decodeDataValue('aGkgCg')]).toEqual([0x68, 0x69, 0x20, 0x0a]);
  });

  it('enforces limits as too-large', () => {
    const pack = Array.from({ length: 5 }, (_, i) => ({ n: `a${i}`, v: i }));
    expect(errorOf(() => parseSenMLJson(JSON.stringify(pack), { maxRecords: 4 })).code).toBe('too-large');
    expect(parseSenMLJson(JSON.stringify(pack), { maxRecords: 5 })).toHaveLength(5);
    expect(errorOf(() => parseSenMLJson(JSON.stringify(pack), { maxBytes: 20 })).code).toBe('too-large');
  });
});

describe('resolution', () => {
  it('names: bn alone, n alone, bn + n; first character of the whole name; unused invalid bn is harmless', () => {
    expect(json([{ bn: 'dev1', v: 1 }])[0]!.n).toBe('dev1');
    expect(json([{ bn: 'd/', n: '-x', v: 1 }])[0]!.n).toBe('d/-x');
    expect(json([{ bn: '#bad' }, { bn: 'ok/', n: 'a', v: 1 }])[0]!.n).toBe('ok/a');
    expect(errorOf(() => json([{ bn: '#bad' }, { n: 'a', v: 1 }]))).toMatchObject({ code: 'name', index: 1 });
    expect(errorOf(() => json([{ n: '', v: 1 }])).code).toBe('name');
    expect(errorOf(() => json([{ bn: 'a', n: 'b c', v: 1 }])).code).toBe('name');
    expect(errorOf(() => json([{ n: 1, v: 1 }])).code).toBe('type');
  });

  it('units: u overrides bu; no unit when neither', () => {
    const r = json([
      { bn: 'd/', bu: 'Cel', n: 'a', v: 1 },
      { n: 'b', u: 'K', v: 2 },
      { bu: 'W', n: 'c', v: 3 },
    ]);
    expect(r.map((x) => x.u)).toEqual(['Cel', 'K', 'W']);
    expect(json([{ n: 'a', v: 1 }])[0]!.u).toBeUndefined();
  });

  it('values and sums: bv only applies to v; bs alone is a sum; s alone is a sum', () => {
    const r = json([
      { bn: 'd/', bt: NOW, bv: 10, n: 'a', v: 1 },
      { n: 'b', vs: 'x' },
      { n: 'c', vb: true },
      { n: 'd', s: 5 },
    ]);
    expect(r.map((x) => [x.v, x.vs, x.vb, x.s])).toEqual([
      [11, undefined, undefined, undefined],
      [undefined, 'x', undefined, undefined],
      [undefined, undefined, true, undefined],
      [undefined, undefined, undefined, 5],
    ]);
    expect(json([{ bs: 7, n: 'a' }])[0]!.s).toBe(7);
    expect(json([{ bs: 7, n: 'a', s: 1, v: 2 }])[0]).toMatchObject({ s: 8, v: 2 });
    expect(errorOf(() => json([{ n: 'a', vs: 'x', vb: false }])).code).toBe('values');
    expect(errorOf(() => json([{ n: 'a', ut: 5 }])).code).toBe('values');
  });

  it('base-only records emit nothing; a pack of base records only is valid and empty', () => {
    expect(json([{ bn: 'x' }, { bt: NOW }])).toEqual([]);
  });

  it('times: relative below 2^28 (default now = the clock), absolute from 2^28', () => {
    const before = Date.now() / 1000;
    const [r] = parseSenMLJson('[{"n":"a","v":1,"t":-10}]');
    const after = Date.now() / 1000;
    expect(r!.t).toBeGreaterThanOrEqual(before - 10);
    expect(r!.t).toBeLessThanOrEqual(after - 10);
    expect(json([{ n: 'a', v: 1, t: 2 ** 28 }])[0]!.t).toBe(2 ** 28);
    expect(json([{ n: 'a', v: 1, t: 2 ** 28 - 1 }])[0]!.t).toBe(NOW + 2 ** 28 - 1);
    expect(json([{ bt: 2 ** 28, n: 'a', v: 1, t: -1 }])[0]!.t).toBe(NOW + 2 ** 28 - 1);
  });

  it('sorts by time, stably', () => {
    const r = json([
      { bn: 'd/', bt: NOW, n: 'c', v: 3, t: 2 },
      { n: 'a', v: 1, t: 1 },
      { n: 'b', v: 2, t: 1 },
      { n: 'd', v: 4, t: 0 },
    ]);
    expect(r.map((x) => x.n)).toEqual(['d/d', 'd/a', 'd/b', 'd/c']);
  });

  it('rejects a time, value or sum that overflows when resolved', () => {
    expect(errorOf(() => json([{ bt: 1e308, n: 'a', v: 1, t: 1e308 }])).code).toBe('type');
    expect(errorOf(() => json([{ bv: 1e308, n: 'a', v: 1e308 }])).code).toBe('type');
    expect(errorOf(() => json([{ bs: 1e308, n: 'a', s: 1e308 }])).code).toBe('type');
  });

  it('versions: default 10, carried by later records, same in all records, at most 10, positive integer', () => {
    expect(
      json([
        { n: 'a', v: 1 },
        { bver: 10, n: 'b', v: 2 },
      ]).every((r) => r.bver === undefined),
    ).toBe(true);
    expect(
      json([
        { bver: 5, n: 'a', v: 1 },
        { n: 'b', v: 2 },
      ]).map((r) => r.bver),
    ).toEqual([5, 5]);
    expect(
      errorOf(() =>
        json([
          { n: 'a', v: 1 },
          { bver: 5, n: 'b', v: 2 },
        ]),
      ),
    ).toMatchObject({
      code: 'version-mismatch',
      index: 1,
    });
    expect(errorOf(() => json([{ bver: 11, n: 'a', v: 1 }])).code).toBe('unsupported-version');
    expect(errorOf(() => json([{ bver: 0, n: 'a', v: 1 }])).code).toBe('type');
    expect(errorOf(() => json([{ bver: '10', n: 'a', v: 1 }])).code).toBe('type');
  });

  it('resolves long names (beyond the resolved-name cache) the same way', () => {
    const bn = `urn:dev:${'a'.repeat(300)}:`;
    const r = json([
      { bn, n: 'x', v: 1 },
      { n: 'x', v: 2 },
      { n: 'y', v: 3 },
    ]);
    expect(r.map((x) => x.n)).toEqual([`${bn}x`, `${bn}x`, `${bn}y`]);
  });

  it('copies ut', () => {
    expect(json([{ n: 'a', v: 1, ut: 60 }])[0]!.ut).toBe(60);
  });

  it('resolveSenML takes an already-decoded value and rejects non-packs', () => {
    expect(resolveSenML([{ n: 'a', v: 1 }], { now: NOW })).toEqual(json([{ n: 'a', v: 1 }]));
    expect(errorOf(() => resolveSenML('x')).code).toBe('not-a-pack');
  });
});

describe('SenML CBOR (cbor-x, locked down)', () => {
  const ok = '81 a2 00 61 61 02 01'; // [{0: "a", 2: 1}]

  it('decodes integer labels (a text "n" label is an unknown label, not the name)', () => {
    expect(parseSenMLCbor(hex(ok), { now: NOW })).toEqual([
      {
        n: 'a',
        t: NOW,
        v: 1,
        u: undefined,
        vs: undefined,
        vb: undefined,
        vd: undefined,
        s: undefined,
        ut: undefined,
        bver: undefined,
      },
    ]);
    expect(cborCode(hex('81 a2 61 6e 61 61 02 01'))).toBe('name'); // {"n": "a", 2: 1}: no name
    expect(cborCode(hex('81 a3 00 61 61 02 01 18 2a 01'))).toBe('ok'); // unknown integer label 42 ignored
    expect(cborCode(hex('81 a3 00 61 61 02 01 62 78 5f 01'))).toBe('must-understand'); // "x_"
  });

  it('admits only tag 4 (decimal fraction), as [int exponent, int mantissa]', () => {
    expect(parseSenMLCbor(hex('81 a2 00 61 61 02 c4 82 21 19 09 29'))[0]!.v).toBe(23.45);
    expect(cborCode(hex('81 a2 00 61 61 02 c4 82 21 61 61'))).toBe('syntax'); // text mantissa
    expect(cborCode(hex('81 a2 00 61 61 02 c4 83 21 01 01'))).toBe('syntax'); // three items
    expect(cborCode(hex('81 a2 00 61 61 02 c4 01'))).toBe('syntax'); // not an array
    expect(cborCode(hex('81 a2 00 61 61 02 c4 82 21 c2 41 01'))).toBe('syntax'); // bignum mantissa
    const tagged: Array<[string, string]> = [
      ['epoch date (1)', '81 a2 00 61 61 02 c1 1a 65 53 f1 00'],
      ['bignum (2)', '81 a2 00 61 61 02 c2 41 01'],
      ['bigfloat (5)', '81 a2 00 61 61 02 c5 82 21 01'],
      ['shareable (28)', '81 d8 1c a2 00 61 61 02 01'],
      ['shared ref (29)', '81 a2 00 61 61 02 d8 1d 00'],
      ['Map (259)', '81 d9 01 03 a2 00 61 61 02 01'],
      ['Set (258)', '81 a3 00 61 61 02 01 18 2a d9 01 02 80'],
      ['Uint8Array (64)', '81 a2 00 61 61 08 d8 40 41 01'],
      ['self-described (55799)', 'd9 d9 f7 81 a2 00 61 61 02 01'],
      ['cbor-x record (0xdfff)', '81 d9 df ff 82 00 61 61'],
      ['cbor-x packed reference (6)', '81 a2 00 61 61 02 c6 00'],
      ['cbor-x bundled strings (0xdff9)', 'd9 df f9 83 60 60 81 a2 00 61 61 02 01'],
    ];
    for (const [what, bytes] of tagged) expect(cborCode(hex(bytes)), what).toBe('syntax');
  });

  it('requires a definite-length root for a SenML pack; a SensML stream may be indefinite', () => {
    const indefinite = hex('9f a2 00 61 61 02 01 ff');
    expect(cborCode(indefinite)).toBe('not-a-pack');
    expect(cborCode(indefinite, true)).toBe('ok');
    expect(parseSenML(indefinite, SENSML_CBOR, { now: NOW })).toHaveLength(1);
    expect(parseSenMLCbor(indefinite, { stream: true, now: NOW })).toHaveLength(1);
    expect(cborCode(hex('81 bf 00 61 61 02 01 ff'))).toBe('ok'); // an indefinite-length record is fine
  });

  it('rejects ill-formed and unsupported CBOR as syntax', () => {
    const cases: Array<[string, string]> = [
      ['trailing byte', `${ok} 00`],
      ['truncated', '81 a2 00 61 61 02'],
      ['truncated string', '81 a2 00 65 61 02 01'],
      ['indefinite text', '81 a2 00 7f 61 61 ff 02 01'],
      ['invalid UTF-8 text', '81 a2 00 62 c3 28 02 01'],
      ['simple value 16', '81 a2 00 61 61 02 f0'],
      ['simple value 32', '81 a2 00 61 61 02 f8 20'],
      ['reserved additional information', '81 a2 00 61 61 02 1c'],
      ['lone break', 'ff'],
      ['break inside a definite array', '82 ff ff'],
      ['duplicate label', '81 a3 00 61 61 02 01 02 02'],
      ['huge array length', '9b 00 00 00 01 00 00 00 00'],
      ['huge map length', '81 ba ff ff ff ff 00'],
      ['empty input', ''],
    ];
    for (const [what, bytes] of cases) expect(cborCode(hex(bytes)), what).toBe('syntax');
  });

  it('limits nesting (unknown labels may hold containers, up to a depth)', () => {
    const nested = (depth: number): Uint8Array => {
      let value: CborValue = 1;
      for (let i = 0; i < depth; i++) value = [value];
      return encodeCbor([
        new Map<CborValue, CborValue>([
          [0, 'a'],
          [2, 1],
          ['x', value],
        ]),
      ]);
    };
    expect(cborCode(nested(MAX_DEPTH - 3))).toBe('ok');
    expect(cborCode(nested(MAX_DEPTH + 5))).toBe('syntax');
  });

  it('types: labels must be integers or text; values per Table 2; vd a byte string', () => {
    expect(cborCode(hex('81 a2 00 61 61 f9 40 00 01'))).toBe('type'); // float label
    expect(cborCode(hex('81 a2 00 61 61 02 f7'))).toBe('type'); // v undefined
    expect(cborCode(hex('81 a2 00 61 61 02 f6'))).toBe('type'); // v null
    expect(cborCode(hex('81 a2 00 61 61 02 f9 7e 00'))).toBe('type'); // v NaN
    expect(cborCode(hex('81 a2 00 61 61 02 f9 7c 00'))).toBe('type'); // v Infinity
    expect(cborCode(hex('81 a2 00 61 61 08 61 61'))).toBe('type'); // vd text
    expect(cborCode(hex('81 a2 00 61 61 04 01'))).toBe('type'); // vb not boolean
    expect(cborCode(hex('81 a3 00 61 61 02 01 20 fb 40 25 00 00 00 00 00 00'))).toBe('type'); // bver 10.5
    expect(cborCode(hex('81 a3 00 61 61 02 01 20 f9 49 00'))).toBe('ok'); // bver 10.0 (float16) is the integer 10
  });

  it('leaves the input buffer untouched (cbor-x would cache a dataView property on it)', () => {
    const bytes = hex(ok);
    parseSenMLCbor(bytes);
    validateSenML(bytes, SENML_CBOR);
    expect(Object.keys(bytes)).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    expect(Object.getOwnPropertyNames(bytes)).not.toContain('dataView');
  });

  it('decodes 64-bit integers as numbers and vd bytes as base64url', () => {
    expect(parseSenMLCbor(hex('81 a2 00 61 61 02 1b 00 00 00 01 00 00 00 00'))[0]!.v).toBe(2 ** 32);
    expect(parseSenMLCbor(hex('81 a2 00 61 61 02 3b 00 00 00 01 00 00 00 00'))[0]!.v).toBe(-(2 ** 32) - 1);
    expect(parseSenMLCbor(hex('81 a2 00 61 61 08 44 68 69 20 0a'))[0]!.vd).toBe('aGkgCg');
  });

  it('requires an array of maps', () => {
    expect(cborCode(hex('a0'))).toBe('not-a-pack');
    expect(cborCode(hex('61 61'))).toBe('not-a-pack');
    expect(cborCode(hex('80'))).toBe('not-a-pack');
    expect(validateSenML(hex(`82 a2 00 61 61 02 01 01`), SENML_CBOR)).toMatchObject({
      code: 'not-a-pack',
      index: 1,
    });
  });

  it('enforces limits as too-large', () => {
    const pack: SenMLPackRecord[] = Array.from({ length: 5 }, (_, i) => ({ n: `a${i}`, v: i }));
    const bytes = encodeSenMLCbor(pack);
    expect(errorOf(() => parseSenMLCbor(bytes, { maxRecords: 4 })).code).toBe('too-large');
    expect(errorOf(() => parseSenMLCbor(bytes, { maxBytes: 10 })).code).toBe('too-large');
    expect(errorOf(() => scanSenMLCbor(hex('9f a0 a0 a0 ff'), true, 2)).code).toBe('too-large');
  });

  it('encodes packs without any tag: maps are plain maps, vd a plain byte string', () => {
    const bytes = encodeSenMLCbor([{ bn: 'd/', n: 'a', vd: 'aGkgCg', x: 1 }]);
    // [{-2: "d/", 0: "a", 8: h'6869200a', "x": 1}]: map a4, byte string 44, no c0..db tag byte anywhere
    expect(Buffer.from(bytes)).toEqual(hex('81 a4 21 62 64 2f 00 61 61 08 44 68 69 20 0a 61 78 01'));
    for (const v of vectors.valid.filter((x) => x.input !== null)) {
      expect(() => scanSenMLCbor(encodeSenMLCbor(v.input!), false, 100)).not.toThrow();
    }
  });
});

describe('strict mode', () => {
  const valid = Buffer.from('[{"n":"a","v":1}]');
  it('passes valid SenML and opaque content types, fails invalid SenML and unparsed SenML types', () => {
    expect(checkStrict(SENML_JSON, valid)).toEqual({ ok: true });
    expect(checkStrict('Application/SenML+JSON; charset=utf-8', valid)).toEqual({ ok: true });
    expect(checkStrict(OCTET_STREAM, Uint8Array.from([0xff, 0x00]))).toEqual({ ok: true });
    expect(checkStrict('application/x-megolm+cbor', Uint8Array.from([0xff]))).toEqual({ ok: true });
    const bad = checkStrict(SENML_JSON, Buffer.from('[{"v":1}]'));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toMatchObject({ code: 'name', index: 0 });
    const xml = checkStrict(SENML_XML, Buffer.from('<sensml/>'));
    expect(xml.ok === false && xml.error.code).toBe('unsupported-content-type');
    const cbor = checkStrict(SENML_CBOR, valid); // JSON bytes declared as CBOR: 0x5b is a truncated byte string
    expect(cbor.ok === false && cbor.error.code).toBe('syntax');
  });

  it('validateSenML agrees with parseSenML, and refuses what it does not parse', () => {
    expect(validateSenML(valid, SENML_JSON)).toBeNull();
    expect(validateSenML(valid, OCTET_STREAM)?.code).toBe('unsupported-content-type');
    expect(errorOf(() => parseSenML(valid, OCTET_STREAM)).code).toBe('unsupported-content-type');
  });
});

describe('content types', () => {
  it('classifies SenML packs and streams, case- and parameter-insensitively', () => {
    expect(classifyContentType(SENML_JSON)).toEqual({ kind: 'senml-json', stream: false });
    expect(classifyContentType('application/sensml+json')).toEqual({ kind: 'senml-json', stream: true });
    expect(classifyContentType(' APPLICATION/SENML+CBOR ; x=y')).toEqual({
      kind: 'senml-cbor',
      stream: false,
    });
    expect(classifyContentType('application/senml-exi').kind).toBe('senml-unsupported');
    expect(classifyContentType('text/plain').kind).toBe('binary');
    expect(normalizeContentType('A/B; c=d')).toBe('a/b');
    expect(isSenMLContentType(SENSML_CBOR)).toBe(true);
    expect(isSenMLContentType(OCTET_STREAM)).toBe(false);
  });

  it('maps CoAP content-formats both ways (RFC 8428 §12.3 numbers from the vectors file)', () => {
    for (const [type, format] of Object.entries(vectors.media_types)) {
      expect(contentTypeFromCoAP(format)).toBe(type);
      expect(coapContentFormat(type)).toBe(format);
    }
    expect(contentTypeFromCoAP(42)).toBe(OCTET_STREAM);
    expect(coapContentFormat('application/json')).toBeUndefined();
  });
});
