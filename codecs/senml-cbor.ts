/**
 * SenML CBOR (RFC 8428 §6) on top of cbor-x, locked down.
 *
 * cbor-x understands far more than SenML allows: record extensions, structured-clone references, shared packed
 * values, typed-array, Set/Map, Date and bignum tags, and it keeps state in module globals. Before any byte reaches
 * it, {@link scanSenMLCbor} walks the input once and admits only what SenML uses:
 * - well-formed CBOR, one item, no trailing bytes, bounded nesting (depth {@link MAX_DEPTH});
 * - major types 0-5 and 7 (false, true, null, undefined, float16/32/64); no other simple values;
 * - one tag only: 4 (decimal fraction `[int exponent, int mantissa]`), which §6 allows for numbers;
 * - text strings that are valid UTF-8; no indefinite-length (chunked) strings;
 * - the root a definite-length array for a SenML pack (§6); a SensML stream may be indefinite;
 * - record labels that are integers or text strings, no duplicate integer label in a record.
 * The decoder is configured to decode maps as `Map` (so integer label 2 is not text "2"), without records, structured
 * clone or bundled strings, and with 64-bit integers as numbers (no bigint surprises).
 */
import { isUtf8 } from 'node:buffer';
import { Decoder, Encoder, type Options } from 'cbor-x';
import { SenMLError } from './senml-error.js';

/** Maximum nesting of arrays/maps/tags: pack (1) → record (2) → values; deeper levels only in unknown labels. */
export const MAX_DEPTH = 16;

const RULE_CBOR = 'RFC 8949: well-formed CBOR';
const RULE_SENML_CBOR = 'RFC 8428 §6: SenML CBOR representation';
const RULE_PACK = 'RFC 8428 §4 CDDL: SenML-Pack = [1* record]';

let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;

function syntax(message: string, index = -1, rule = RULE_CBOR): SenMLError {
  return new SenMLError('syntax', message, index, rule);
}

function truncated(): SenMLError {
  return syntax('CBOR data is truncated');
}

/** Reads the argument of an initial byte (additional information 0..27); `ai` 28..31 are handled by callers. */
function readArg(ai: number): number {
  if (ai < 24) return ai;
  const b = buf;
  const p = pos;
  switch (ai) {
    case 24:
      if (p + 1 > end) throw truncated();
      pos = p + 1;
      return b[p]!;
    case 25:
      if (p + 2 > end) throw truncated();
      pos = p + 2;
      return (b[p]! << 8) | b[p + 1]!;
    case 26:
      if (p + 4 > end) throw truncated();
      pos = p + 4;
      return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    case 27: {
      if (p + 8 > end) throw truncated();
      pos = p + 8;
      const hi = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      const lo = b[p + 4]! * 0x1000000 + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
      return hi * 0x100000000 + lo;
    }
    default:
      throw syntax(`reserved additional information ${ai}`);
  }
}

function skipText(len: number): void {
  if (len > end - pos) throw truncated();
  const b = buf;
  const stop = pos + len;
  for (let i = pos; i < stop; i++) {
    if (b[i]! >= 0x80) {
      if (!isUtf8(b.subarray(pos, stop))) throw syntax('text string is not valid UTF-8');
      break;
    }
  }
  pos = stop;
}

function skipItem(depth: number): void {
  if (pos >= end) throw truncated();
  const ib = buf[pos++]!;
  const major = ib >> 5;
  const ai = ib & 31;
  if (ai === 31) {
    switch (major) {
      case 4:
        if (depth >= MAX_DEPTH) throw syntax(`nesting deeper than ${MAX_DEPTH}`);
        for (;;) {
          if (pos >= end) throw truncated();
          if (buf[pos] === 0xff) {
            pos++;
            return;
          }
          skipItem(depth + 1);
        }
      case 5:
        if (depth >= MAX_DEPTH) throw syntax(`nesting deeper than ${MAX_DEPTH}`);
        for (;;) {
          if (pos >= end) throw truncated();
          if (buf[pos] === 0xff) {
            pos++;
            return;
          }
          skipItem(depth + 1);
          skipItem(depth + 1);
        }
      case 2:
      case 3:
        throw syntax('indefinite-length strings are not allowed', -1, RULE_SENML_CBOR);
      case 7:
        throw syntax('unexpected break code');
      default:
        throw syntax(`indefinite length with major type ${major}`);
    }
  }
  switch (major) {
    case 0:
    case 1:
      readArg(ai);
      return;
    case 2: {
      const len = readArg(ai);
      if (len > end - pos) throw truncated();
      pos += len;
      return;
    }
    case 3:
      skipText(readArg(ai));
      return;
    case 4: {
      const len = readArg(ai);
      if (len > end - pos) throw truncated();
      if (depth >= MAX_DEPTH) throw syntax(`nesting deeper than ${MAX_DEPTH}`);
      for (let i = 0; i < len; i++) skipItem(depth + 1);
      return;
    }
    case 5: {
      const len = readArg(ai);
      if (len * 2 > end - pos) throw truncated();
      if (depth >= MAX_DEPTH) throw syntax(`nesting deeper than ${MAX_DEPTH}`);
      for (let i = 0; i < len; i++) {
        skipItem(depth + 1);
        skipItem(depth + 1);
      }
      return;
    }
    case 6: {
      const tag = readArg(ai);
      if (tag !== 4) throw syntax(`CBOR tag ${tag} is not allowed in SenML`, -1, RULE_SENML_CBOR);
      skipDecimalFraction();
      return;
    }
    default: // 7
      if (ai >= 20 && ai <= 23) return; // false, true, null, undefined
      if (ai === 25 || ai === 26 || ai === 27) {
        const size = ai === 25 ? 2 : ai === 26 ? 4 : 8;
        if (pos + size > end) throw truncated();
        pos += size;
        return;
      }
      throw syntax(
        ai === 24 || ai < 20 ? 'simple values are not allowed in SenML' : `reserved simple type ${ai}`,
      );
  }
}

/** Tag 4 content: exactly `[exponent, mantissa]`, both integers (RFC 8949 §3.4.4, without bignum mantissas). */
function skipDecimalFraction(): void {
  if (pos >= end) throw truncated();
  if (buf[pos] !== 0x82)
    throw syntax('tag 4 (decimal fraction) must hold [exponent, mantissa]', -1, RULE_SENML_CBOR);
  pos++;
  for (let k = 0; k < 2; k++) {
    if (pos >= end) throw truncated();
    const ib = buf[pos++]!;
    const ai = ib & 31;
    if (ib >> 5 > 1 || ai > 27) {
      throw syntax('decimal fraction exponent and mantissa must be integers', -1, RULE_SENML_CBOR);
    }
    readArg(ai);
  }
}

/**
 * One record: a map with integer or text labels; integer labels -6..8 (the registered ones) not repeated. Anything
 * else is only checked for well-formedness: the resolver reports a non-map record (`not-a-pack`) in record order.
 */
function skipRecord(index: number): void {
  if (pos >= end) throw truncated();
  const ib = buf[pos]!;
  if (ib >> 5 !== 5) {
    skipItem(1);
    return;
  }
  pos++;
  const ai = ib & 31;
  const indefinite = ai === 31;
  const len = indefinite ? -1 : readArg(ai);
  if (!indefinite && len * 2 > end - pos) throw truncated();
  let seen = 0;
  for (let i = 0; indefinite || i < len; i++) {
    if (pos >= end) throw truncated();
    const kb = buf[pos]!;
    if (indefinite && kb === 0xff) {
      pos++;
      break;
    }
    const kmajor = kb >> 5;
    const kai = kb & 31;
    pos++;
    if (kmajor === 3) {
      if (kai === 31) throw syntax('indefinite-length strings are not allowed', index, RULE_SENML_CBOR);
      skipText(readArg(kai));
    } else if (kmajor <= 1) {
      if (kai > 27) throw syntax(`reserved additional information ${kai}`, index);
      const n = readArg(kai);
      const label = kmajor === 0 ? n : -1 - n;
      if (label >= -6 && label <= 8) {
        const bit = 1 << (label + 6);
        if ((seen & bit) !== 0)
          throw syntax(`label ${label} appears twice in the record`, index, RULE_SENML_CBOR);
        seen |= bit;
      }
    } else {
      throw new SenMLError('type', 'record labels must be integers or text strings', index, RULE_SENML_CBOR);
    }
    skipItem(2);
  }
}

/**
 * Checks that `bytes` is CBOR SenML may contain (see the module comment). Throws {@link SenMLError} with code
 * `syntax`, `type` (a label that is neither integer nor text), `not-a-pack` (root not an array, or an
 * indefinite-length SenML pack) or `too-large` (more than `maxRecords` records).
 */
export function scanSenMLCbor(bytes: Uint8Array, stream: boolean, maxRecords: number): void {
  buf = bytes;
  pos = 0;
  end = bytes.length;
  try {
    if (end === 0) throw syntax('empty input');
    const ib = buf[0]!;
    if (ib >> 5 !== 4) {
      skipItem(0);
      if (pos !== end) throw syntax('trailing bytes after the first CBOR item');
      throw new SenMLError('not-a-pack', 'the root is not an array of records', -1, RULE_PACK);
    }
    pos = 1;
    const ai = ib & 31;
    if (ai === 31) {
      if (!stream) {
        throw new SenMLError(
          'not-a-pack',
          'a SenML pack must be a definite-length array (indefinite length is for SensML streams)',
          -1,
          RULE_SENML_CBOR,
        );
      }
      for (let i = 0; ; i++) {
        if (pos >= end) throw truncated();
        if (buf[pos] === 0xff) {
          pos++;
          break;
        }
        if (i >= maxRecords) throw tooManyRecords(maxRecords);
        skipRecord(i);
      }
    } else {
      const count = readArg(ai);
      if (count > end - pos) throw truncated();
      if (count > maxRecords) throw tooManyRecords(maxRecords);
      for (let i = 0; i < count; i++) skipRecord(i);
    }
    if (pos !== end) throw syntax('trailing bytes after the pack');
  } finally {
    buf = EMPTY;
  }
}

const EMPTY = new Uint8Array(0);

function tooManyRecords(max: number): SenMLError {
  return new SenMLError('too-large', `more than ${max} records`, -1, 'limit: maxRecords');
}

// `int64AsNumber` is a cbor-x decoder option missing from its type declarations.
const decoderOptions: Options & { int64AsNumber: boolean } = {
  mapsAsObjects: false,
  useRecords: false,
  structuredClone: false,
  bundleStrings: false,
  sequential: false,
  copyBuffers: false,
  int64AsNumber: true,
};
const decoder = new Decoder(decoderOptions);

/** A decoded CBOR value as it can come out of {@link decodeSenMLCbor} (after the scan). */
export type CborValue =
  | number
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | Map<CborValue, CborValue>;

/**
 * Scans, then decodes. The result is an array of `Map`s (records) keyed by integer labels (and text for unknown
 * labels); byte strings are views into `bytes` (valid while `bytes` is). Throws only {@link SenMLError}.
 */
export function decodeSenMLCbor(bytes: Uint8Array, stream: boolean, maxRecords: number): CborValue[] {
  scanSenMLCbor(bytes, stream, maxRecords);
  let value: unknown;
  try {
    // cbor-x caches a `dataView` property on the object it decodes: give it a view of our own, so that the
    // caller's buffer (on the broker's hot path, in strict mode) is never modified.
    value = decoder.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw syntax(`CBOR decoding failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(value))
    throw new SenMLError('not-a-pack', 'the root is not an array of records', -1, RULE_PACK);
  return value as CborValue[];
}

// `useTag259ForMaps` is an encoder option missing from cbor-x's type declarations. Without these settings cbor-x
// would write a Map as tag 259 and a Uint8Array as tag 64, neither of which SenML allows.
const encoderOptions: Options & { useTag259ForMaps: boolean } = {
  useRecords: false,
  useTag259ForMaps: false,
  tagUint8Array: false,
  structuredClone: false,
  bundleStrings: false,
  pack: false,
  useSelfDescribedHeader: false,
  variableMapSize: true,
};
const encoder = new Encoder(encoderOptions);

/** Encodes a CBOR value with the SenML-safe encoder (returns a fresh copy, safe to keep). */
export function encodeCbor(value: CborValue): Uint8Array {
  return new Uint8Array(encoder.encode(value));
}
