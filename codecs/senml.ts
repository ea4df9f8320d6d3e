/**
 * SenML (RFC 8428, version 10; RFC 9100 version bitmap) parsing, validation and resolution for JSON and CBOR.
 *
 * Resolution follows RFC 8428 §4.6 and the rules of the shared test vectors:
 * - base fields (bn, bt, bu, bv, bs, bver) apply to their record and every later one until replaced;
 * - name = bn + n, non-empty, `^[A-Za-z0-9][A-Za-z0-9:./_-]*$`;
 * - unit = u, else bu; value = bv + v only when the record has v; vs/vb/vd copied; sum = bs + s (a missing one
 *   counts 0, neither → no sum);
 * - time = bt + t; below 2^28 it is relative to `now` (the receiver's clock, or the message's reception time);
 * - bver defaults to 10, must be equal in all records, at most 10; resolved records carry it only when ≠ 10;
 * - records holding only base fields emit nothing; the result is stably sorted by time.
 */
import { Buffer } from 'node:buffer';
import { type ContentClass, classifyContentType } from './content-type.js';
import { type CborValue, decodeSenMLCbor, encodeCbor } from './senml-cbor.js';
import { SenMLError } from './senml-error.js';
import { decodeSenMLJsonText } from './senml-json.js';

/** A resolved SenML record (RFC 8428 §4.6): absolute time, full name, no base fields. Absent fields are undefined. */
export interface SenMLRecord {
  /** Resolved name (bn + n). */
  n: string;
  /** Unit (u, else bu). */
  u?: string | undefined;
  /** Absolute time, seconds since the Unix epoch (may have a fraction). */
  t: number;
  /** Numeric value (bv + v). */
  v?: number | undefined;
  /** String value. */
  vs?: string | undefined;
  /** Boolean value. */
  vb?: boolean | undefined;
  /** Data value, base64url without padding (CBOR byte strings are converted to this form too). */
  vd?: string | undefined;
  /** Sum (bs + s). */
  s?: number | undefined;
  /** Update time, seconds. */
  ut?: number | undefined;
  /** The pack's version, only when it is not 10. */
  bver?: number | undefined;
}

/** A SenML record as it is written in a pack (JSON labels). Unknown labels are allowed (and ignored unless `_`). */
export interface SenMLPackRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bs?: number;
  bver?: number;
  n?: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: string;
  s?: number;
  t?: number;
  ut?: number;
  [label: string]: unknown;
}

export interface SenMLOptions {
  /** "Now" for relative times, in seconds since the epoch (may be fractional). Default: `Date.now() / 1000`. */
  now?: number;
  /** Largest accepted payload in bytes (for a string input: in UTF-16 code units). Default 1 MiB. */
  maxBytes?: number;
  /** Largest accepted number of records in a pack. Default 10 000. */
  maxRecords?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_RECORDS = 10_000;
/** Times below 2^28 s are relative to "now" (RFC 8428 §4.5.3). */
export const RELATIVE_TIME_LIMIT = 2 ** 28;
/** The SenML version this implementation understands. */
export const SENML_VERSION = 10;

/** CBOR integer label of each registered SenML label (RFC 8428 §6, Table 4). */
export const CBOR_LABELS: Readonly<Record<string, number>> = Object.freeze({
  bver: -1,
  bn: -2,
  bt: -3,
  bu: -4,
  bv: -5,
  bs: -6,
  n: 0,
  u: 1,
  v: 2,
  vs: 3,
  vb: 4,
  s: 5,
  t: 6,
  ut: 7,
  vd: 8,
});

const RULE_TYPES = 'RFC 8428 §4.3 Table 2: field types';
const RULE_NAME =
  'RFC 8428 §4.5.1: name = bn + n, non-empty, characters A-Z a-z 0-9 - : . / _, first A-Z a-z 0-9';
const RULE_VALUES = 'RFC 8428 §4.2: exactly one of v, vs, vb, vd unless a sum is present';
const RULE_MUST_UNDERSTAND = 'RFC 8428 §4.4: labels ending in "_" must be understood';
const RULE_VERSION = 'RFC 8428 §4.4: all records of a pack have the same bver';
const RULE_VERSION_MAX = 'RFC 8428 §4.4 / RFC 9100: bver above the implemented version (10)';
const RULE_PACK = 'RFC 8428 §4 CDDL: SenML-Pack = [1* record]';

// --- character classes -------------------------------------------------------------------------------------------

/** 2: allowed as the first character of a name; 1: allowed elsewhere; 0: never. */
const NAME_CHARS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch)) NAME_CHARS[c] = 2;
  else if (/[-:./_]/.test(ch)) NAME_CHARS[c] = 1;
}
/** Value + 1 of each base64url character (RFC 4648 §5); 0: not one. */
const B64URL_VALUES = new Uint8Array(128);
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
for (let i = 0; i < 64; i++) B64URL_VALUES[B64URL_ALPHABET.charCodeAt(i)] = i + 1;

function nameCharsOk(s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || NAME_CHARS[c] === 0) return false;
  }
  return true;
}

function nameStartOk(s: string): boolean {
  const c = s.charCodeAt(0);
  return c < 128 && NAME_CHARS[c] === 2;
}

/**
 * Canonical base64url without padding: the alphabet only, no impossible length, and zero unused bits in the last
 * character (RFC 4648 §3.5), so that one byte string has exactly one text form (JSON `vd` ⇄ CBOR bytes).
 */
function isBase64Url(s: string): boolean {
  const n = s.length;
  const rest = n % 4;
  if (rest === 1) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || B64URL_VALUES[c] === 0) return false;
  }
  if (rest === 0) return true;
  const last = B64URL_VALUES[s.charCodeAt(n - 1)]! - 1;
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

// --- output -------------------------------------------------------------------------------------------------------

/**
 * Receives resolved records one at a time, in pack order (the resolver does not sort for a sink: it returns whether
 * the records came in time order, and the sink sorts if it needs to). Lets the worker write storage columns without
 * building a record object per record. @internal
 */
export interface ResolvedRecordSink {
  add(
    name: string,
    unit: string | undefined,
    time: number,
    v: number | undefined,
    vs: string | undefined,
    vb: boolean | undefined,
    vd: string | undefined,
    s: number | undefined,
    ut: number | undefined,
    bver: number | undefined,
  ): void;
}

class RecordArraySink implements ResolvedRecordSink {
  readonly records: SenMLRecord[] = [];

  add(
    n: string,
    u: string | undefined,
    t: number,
    v: number | undefined,
    vs: string | undefined,
    vb: boolean | undefined,
    vd: string | undefined,
    s: number | undefined,
    ut: number | undefined,
    bver: number | undefined,
  ): void {
    this.records.push({ n, u, t, v, vs, vb, vd, s, ut, bver });
  }

  /** The records, stably sorted by time (Array.prototype.sort is stable since ES2019). */
  sorted(inOrder: boolean): SenMLRecord[] {
    if (!inOrder) this.records.sort(byTime);
    return this.records;
  }
}

// --- per-record scratch and per-pack state -----------------------------------------------------------------------

/** The fields of the record being read (reused for every record: resolution is synchronous, never re-entered). */
class Fields {
  bn: string | undefined = undefined;
  bt: number | undefined = undefined;
  bu: string | undefined = undefined;
  bv: number | undefined = undefined;
  bs: number | undefined = undefined;
  bver: number | undefined = undefined;
  n: string | undefined = undefined;
  u: string | undefined = undefined;
  v: number | undefined = undefined;
  vs: string | undefined = undefined;
  vb: boolean | undefined = undefined;
  vd: string | undefined = undefined;
  s: number | undefined = undefined;
  t: number | undefined = undefined;
  ut: number | undefined = undefined;
  /** True when the record has any non-base registered field (else it is a base-only record). */
  measure = false;

  reset(): void {
    this.bn = undefined;
    this.bt = undefined;
    this.bu = undefined;
    this.bv = undefined;
    this.bs = undefined;
    this.bver = undefined;
    this.n = undefined;
    this.u = undefined;
    this.v = undefined;
    this.vs = undefined;
    this.vb = undefined;
    this.vd = undefined;
    this.s = undefined;
    this.t = undefined;
    this.ut = undefined;
    this.measure = false;
  }
}

class PackState {
  now = 0;
  bn = '';
  /** Whether `bn` has been checked against the name rules (checked lazily, when a record uses it). */
  bnChecked = true;
  bt = 0;
  bu: string | undefined = undefined;
  bv = 0;
  bs: number | undefined = undefined;
  /** The name cache of the current bn (looked up on first use). */
  names: Map<string, string> | null = null;
  /** The pack's version; 0 until the first record sets it. */
  version = 0;
  lastTime = Number.NEGATIVE_INFINITY;
  sorted = true;

  reset(now: number): void {
    this.now = now;
    this.bn = '';
    this.bnChecked = true;
    this.names = null;
    this.bt = 0;
    this.bu = undefined;
    this.bv = 0;
    this.bs = undefined;
    this.version = 0;
    this.lastTime = Number.NEGATIVE_INFINITY;
    this.sorted = true;
  }
}

const fields = new Fields();
const state = new PackState();

// --- field readers -----------------------------------------------------------------------------------------------

function typeError(index: number, label: string, expected: string): SenMLError {
  return new SenMLError('type', `"${label}" must be ${expected}`, index, RULE_TYPES, label);
}

function num(value: unknown, index: number, label: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw typeError(index, label, 'a finite number');
}

function str(value: unknown, index: number, label: string): string {
  if (typeof value === 'string') return value;
  throw typeError(index, label, 'a string');
}

function bool(value: unknown, index: number, label: string): boolean {
  if (typeof value === 'boolean') return value;
  throw typeError(index, label, 'a boolean');
}

function version(value: unknown, index: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value;
  throw typeError(index, 'bver', 'a positive integer');
}

function mustUnderstand(index: number, label: string): SenMLError {
  return new SenMLError(
    'must-understand',
    `unknown label "${label}" ends in "_"`,
    index,
    RULE_MUST_UNDERSTAND,
    label,
  );
}

function notARecord(index: number, what: string): SenMLError {
  return new SenMLError('not-a-pack', `record is not ${what}`, index, RULE_PACK);
}

function readJsonRecord(record: unknown, index: number, f: Fields): void {
  if (record === null || typeof record !== 'object' || Array.isArray(record))
    throw notARecord(index, 'an object');
  f.reset();
  const r = record as Record<string, unknown>;
  for (const key in r) {
    const value = r[key];
    switch (key) {
      case 'n':
        f.n = str(value, index, key);
        f.measure = true;
        break;
      case 'v':
        f.v = num(value, index, key);
        f.measure = true;
        break;
      case 't':
        f.t = num(value, index, key);
        f.measure = true;
        break;
      case 'u':
        f.u = str(value, index, key);
        f.measure = true;
        break;
      case 'vs':
        f.vs = str(value, index, key);
        f.measure = true;
        break;
      case 'vb':
        f.vb = bool(value, index, key);
        f.measure = true;
        break;
      case 'vd': {
        const vd = str(value, index, key);
        if (!isBase64Url(vd))
          throw typeError(index, key, 'canonical base64url without padding (RFC 8428 §4.3)');
        f.vd = vd;
        f.measure = true;
        break;
      }
      case 's':
        f.s = num(value, index, key);
        f.measure = true;
        break;
      case 'ut':
        f.ut = num(value, index, key);
        f.measure = true;
        break;
      case 'bn':
        f.bn = str(value, index, key);
        break;
      case 'bt':
        f.bt = num(value, index, key);
        break;
      case 'bu':
        f.bu = str(value, index, key);
        break;
      case 'bv':
        f.bv = num(value, index, key);
        break;
      case 'bs':
        f.bs = num(value, index, key);
        break;
      case 'bver':
        f.bver = version(value, index);
        break;
      default:
        if (key.charCodeAt(key.length - 1) === 0x5f) throw mustUnderstand(index, key);
    }
  }
}

function readCborRecord(record: CborValue, index: number, f: Fields): void {
  if (!(record instanceof Map)) throw notARecord(index, 'a map');
  f.reset();
  for (const [key, value] of record) {
    if (typeof key === 'number') {
      switch (key) {
        case 0:
          f.n = str(value, index, 'n');
          f.measure = true;
          break;
        case 2:
          f.v = num(value, index, 'v');
          f.measure = true;
          break;
        case 6:
          f.t = num(value, index, 't');
          f.measure = true;
          break;
        case 1:
          f.u = str(value, index, 'u');
          f.measure = true;
          break;
        case 3:
          f.vs = str(value, index, 'vs');
          f.measure = true;
          break;
        case 4:
          f.vb = bool(value, index, 'vb');
          f.measure = true;
          break;
        case 8:
          if (!(value instanceof Uint8Array)) throw typeError(index, 'vd', 'a byte string (RFC 8428 §6)');
          f.vd = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64url');
          f.measure = true;
          break;
        case 5:
          f.s = num(value, index, 's');
          f.measure = true;
          break;
        case 7:
          f.ut = num(value, index, 'ut');
          f.measure = true;
          break;
        case -2:
          f.bn = str(value, index, 'bn');
          break;
        case -3:
          f.bt = num(value, index, 'bt');
          break;
        case -4:
          f.bu = str(value, index, 'bu');
          break;
        case -5:
          f.bv = num(value, index, 'bv');
          break;
        case -6:
          f.bs = num(value, index, 'bs');
          break;
        case -1:
          f.bver = version(value, index);
          break;
        // other integer labels: not registered by RFC 8428, ignored (§4.4: unknown labels are ignored)
      }
    } else if (typeof key === 'string') {
      if (key.charCodeAt(key.length - 1) === 0x5f) throw mustUnderstand(index, key);
    } else {
      throw new SenMLError('type', 'record labels must be integers or text strings', index, RULE_TYPES);
    }
  }
}

// --- resolution --------------------------------------------------------------------------------------------------

function nameError(index: number, message: string): SenMLError {
  return new SenMLError('name', message, index, RULE_NAME);
}

function checkBaseName(st: PackState, index: number): void {
  if (st.bnChecked) return;
  if (!nameStartOk(st.bn)) throw nameError(index, `name "${st.bn}" must start with A-Z, a-z or 0-9`);
  if (!nameCharsOk(st.bn, 1))
    throw nameError(index, `name "${st.bn}" has a character outside A-Z a-z 0-9 - : . / _`);
  st.bnChecked = true;
}

// Resolved names, per base name. Packs from one device repeat the same bn + n; handing out one flat string object
// per name (instead of a new concatenation per record) lets consumers hash it once (the column writer interns every
// name; the storage writer groups by name). Bounded in count (cleared when full) and in size: only names of at most
// NAME_CACHE_MAX_LENGTH characters are kept, so hostile packs cannot pin more than ~8192 × 256 characters.
const NAME_CACHE_LIMIT = 8192;
const NAME_CACHE_MAX_LENGTH = 256;
let nameCache = new Map<string, Map<string, string>>();
let nameCacheSize = 0;

function joinName(st: PackState, n: string): string {
  if (st.bn.length + n.length > NAME_CACHE_MAX_LENGTH) return st.bn + n;
  let names = st.names;
  if (names === null) {
    names = nameCache.get(st.bn) ?? null;
    if (names === null) {
      if (nameCacheSize >= NAME_CACHE_LIMIT) {
        nameCache = new Map();
        nameCacheSize = 0;
      }
      names = new Map();
      nameCache.set(st.bn, names);
    }
    st.names = names;
  }
  let name = names.get(n);
  if (name === undefined) {
    if (nameCacheSize >= NAME_CACHE_LIMIT) return st.bn + n;
    name = st.bn + n;
    names.set(n, name);
    nameCacheSize++;
  }
  return name;
}

function applyRecord(st: PackState, f: Fields, index: number, out: ResolvedRecordSink | null): void {
  const bver = f.bver;
  if (bver !== undefined) {
    if (bver > SENML_VERSION) {
      throw new SenMLError(
        'unsupported-version',
        `bver ${bver} is above the supported version ${SENML_VERSION}`,
        index,
        RULE_VERSION_MAX,
        'bver',
      );
    }
    if (st.version === 0) st.version = bver;
    else if (bver !== st.version) {
      throw new SenMLError(
        'version-mismatch',
        `bver ${bver} differs from the pack's version ${st.version}`,
        index,
        RULE_VERSION,
        'bver',
      );
    }
  } else if (st.version === 0) {
    st.version = SENML_VERSION;
  }
  if (f.bn !== undefined && f.bn !== st.bn) {
    st.bn = f.bn;
    st.bnChecked = f.bn === '';
    st.names = null;
  }
  if (f.bt !== undefined) st.bt = f.bt;
  if (f.bu !== undefined) st.bu = f.bu;
  if (f.bv !== undefined) st.bv = f.bv;
  if (f.bs !== undefined) st.bs = f.bs;
  if (!f.measure) return; // base-only record: emits nothing

  // name
  const n = f.n;
  let name: string;
  if (st.bn === '') {
    if (n === undefined || n === '') throw nameError(index, 'the name is empty (no n and no bn)');
    if (!nameStartOk(n)) throw nameError(index, `name "${n}" must start with A-Z, a-z or 0-9`);
    if (!nameCharsOk(n, 1))
      throw nameError(index, `name "${n}" has a character outside A-Z a-z 0-9 - : . / _`);
    name = n;
  } else {
    checkBaseName(st, index);
    if (n === undefined) {
      name = st.bn;
    } else {
      if (!nameCharsOk(n, 0))
        throw nameError(index, `name "${n}" has a character outside A-Z a-z 0-9 - : . / _`);
      name = joinName(st, n);
    }
  }

  // values
  let kinds = 0;
  if (f.v !== undefined) kinds++;
  if (f.vs !== undefined) kinds++;
  if (f.vb !== undefined) kinds++;
  if (f.vd !== undefined) kinds++;
  const sum = f.s === undefined ? st.bs : st.bs === undefined ? f.s : st.bs + f.s;
  if (kinds !== 1) {
    if (kinds > 1) throw new SenMLError('values', 'more than one of v, vs, vb, vd', index, RULE_VALUES);
    if (sum === undefined)
      throw new SenMLError('values', 'no value (v, vs, vb, vd) and no sum', index, RULE_VALUES);
  }
  const value = f.v === undefined ? undefined : st.bv + f.v;

  // time
  let time = st.bt + (f.t === undefined ? 0 : f.t);
  if (time < RELATIVE_TIME_LIMIT) time += st.now;
  if (!Number.isFinite(time) || (value !== undefined && !Number.isFinite(value))) {
    throw new SenMLError('type', 'resolved time or value is not a finite number', index, RULE_TYPES);
  }
  if (sum !== undefined && !Number.isFinite(sum)) {
    throw new SenMLError('type', 'resolved sum is not a finite number', index, RULE_TYPES, 's');
  }
  if (time < st.lastTime) st.sorted = false;
  st.lastTime = time;
  if (out === null) return;
  out.add(
    name,
    f.u === undefined ? st.bu : f.u,
    time,
    value,
    f.vs,
    f.vb,
    f.vd,
    sum,
    f.ut,
    st.version === SENML_VERSION ? undefined : st.version,
  );
}

function byTime(a: SenMLRecord, b: SenMLRecord): number {
  return a.t - b.t;
}

function packLength(pack: unknown, maxRecords: number): number {
  if (!Array.isArray(pack))
    throw new SenMLError('not-a-pack', 'the root is not an array of records', -1, RULE_PACK);
  if (pack.length === 0) throw new SenMLError('not-a-pack', 'the pack has no record', -1, RULE_PACK);
  if (pack.length > maxRecords) {
    throw new SenMLError('too-large', `more than ${maxRecords} records`, -1, 'limit: maxRecords');
  }
  return pack.length;
}

function nowOf(options: SenMLOptions | undefined): number {
  const now = options?.now;
  return now === undefined ? Date.now() / 1000 : now;
}

/** Resolves a JSON-shaped pack into `out`; returns whether the records came in time order. */
function resolveJsonValue(
  pack: unknown,
  options: SenMLOptions | undefined,
  out: ResolvedRecordSink | null,
): boolean {
  const length = packLength(pack, options?.maxRecords ?? DEFAULT_MAX_RECORDS);
  const records = pack as unknown[];
  const st = state;
  st.reset(nowOf(options));
  for (let i = 0; i < length; i++) {
    readJsonRecord(records[i], i, fields);
    applyRecord(st, fields, i, out);
  }
  return st.sorted;
}

/** Resolves a decoded CBOR pack into `out`; returns whether the records came in time order. */
function resolveCborValue(
  pack: CborValue[],
  options: SenMLOptions | undefined,
  out: ResolvedRecordSink | null,
): boolean {
  const length = packLength(pack, options?.maxRecords ?? DEFAULT_MAX_RECORDS);
  const st = state;
  st.reset(nowOf(options));
  for (let i = 0; i < length; i++) {
    readCborRecord(pack[i], i, fields);
    applyRecord(st, fields, i, out);
  }
  return st.sorted;
}

function checkSize(length: number, options: SenMLOptions | undefined): void {
  const max = options?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (length > max)
    throw new SenMLError('too-large', `payload of ${length} bytes exceeds ${max}`, -1, 'limit: maxBytes');
}

// --- public API --------------------------------------------------------------------------------------------------

/**
 * Resolves an already decoded JSON-shaped pack (an array of plain objects with JSON labels).
 * @throws {SenMLError}
 */
export function resolveSenML(pack: unknown, options?: SenMLOptions): SenMLRecord[] {
  const out = new RecordArraySink();
  return out.sorted(resolveJsonValue(pack, options, out));
}

/**
 * Parses, validates and resolves SenML JSON (`application/senml+json`, `application/sensml+json`).
 * @throws {SenMLError}
 */
export function parseSenMLJson(input: Uint8Array | string, options?: SenMLOptions): SenMLRecord[] {
  checkSize(typeof input === 'string' ? input.length : input.byteLength, options);
  const out = new RecordArraySink();
  return out.sorted(resolveJsonValue(decodeSenMLJsonText(input), options, out));
}

/**
 * Parses, validates and resolves SenML CBOR (`application/senml+cbor`; with `stream: true`,
 * `application/sensml+cbor`, whose root may be an indefinite-length array).
 * @throws {SenMLError}
 */
export function parseSenMLCbor(
  input: Uint8Array,
  options?: SenMLOptions & { stream?: boolean },
): SenMLRecord[] {
  checkSize(input.byteLength, options);
  const pack = decodeSenMLCbor(input, options?.stream === true, options?.maxRecords ?? DEFAULT_MAX_RECORDS);
  const out = new RecordArraySink();
  return out.sorted(resolveCborValue(pack, options, out));
}

function unsupported(contentType: string): SenMLError {
  return new SenMLError(
    'unsupported-content-type',
    `content type "${contentType}" is not parsed as SenML (supported: senml+json, sensml+json, senml+cbor, sensml+cbor)`,
    -1,
    'codec: supported SenML representations',
  );
}

/**
 * Parses, validates and resolves a SenML payload of the given media type (JSON or CBOR, pack or stream).
 * @throws {SenMLError} (`unsupported-content-type` for anything that is not SenML JSON or CBOR)
 */
export function parseSenML(input: Uint8Array, contentType: string, options?: SenMLOptions): SenMLRecord[] {
  const cls = classifyContentType(contentType);
  if (cls.kind !== 'senml-json' && cls.kind !== 'senml-cbor') throw unsupported(contentType);
  return parseSenMLClassified(input, cls, options);
}

/** {@link parseSenML} for a content type already classified (JSON or CBOR). @internal */
export function parseSenMLClassified(
  input: Uint8Array,
  cls: ContentClass,
  options?: SenMLOptions,
): SenMLRecord[] {
  const out = new RecordArraySink();
  return out.sorted(parseSenMLInto(input, cls, options, out));
}

/**
 * Parses and resolves into a sink, in pack order; returns whether the records came in time order. On error the sink
 * may already have received some records of the pack (the caller discards them). @internal
 * @throws {SenMLError}
 */
export function parseSenMLInto(
  input: Uint8Array,
  cls: ContentClass,
  options: SenMLOptions | undefined,
  out: ResolvedRecordSink,
): boolean {
  checkSize(input.byteLength, options);
  if (cls.kind === 'senml-json') return resolveJsonValue(decodeSenMLJsonText(input), options, out);
  const pack = decodeSenMLCbor(input, cls.stream, options?.maxRecords ?? DEFAULT_MAX_RECORDS);
  return resolveCborValue(pack, options, out);
}

/**
 * Validates a SenML payload without building resolved records (the strict-mode check). Returns the first error, or
 * `null` when the payload is a valid pack. Never throws.
 */
export function validateSenML(
  input: Uint8Array,
  contentType: string,
  options?: SenMLOptions,
): SenMLError | null {
  try {
    const cls = classifyContentType(contentType);
    checkSize(input.byteLength, options);
    if (cls.kind === 'senml-json') {
      resolveJsonValue(decodeSenMLJsonText(input), options, null);
    } else if (cls.kind === 'senml-cbor') {
      const maxRecords = options?.maxRecords ?? DEFAULT_MAX_RECORDS;
      resolveCborValue(decodeSenMLCbor(input, cls.stream, maxRecords), options, null);
    } else {
      return unsupported(contentType);
    }
    return null;
  } catch (error) {
    if (error instanceof SenMLError) return error;
    throw error;
  }
}

/**
 * Encodes a pack written with JSON labels as SenML CBOR (RFC 8428 §6): registered labels become their integer keys,
 * `vd` (base64url) becomes a byte string, unknown labels stay text. No CBOR tags are written. Values are not
 * validated: an invalid pack encodes to CBOR that is invalid the same way (a `vd` that is not base64url stays text).
 */
export function encodeSenMLCbor(pack: readonly SenMLPackRecord[]): Uint8Array {
  const records: CborValue[] = pack.map((record) => {
    const map = new Map<CborValue, CborValue>();
    for (const [label, value] of Object.entries(record)) {
      const key = Object.hasOwn(CBOR_LABELS, label) ? CBOR_LABELS[label] : undefined;
      // only a valid vd becomes bytes (Node's base64url decoder would silently drop invalid characters)
      if (label === 'vd' && typeof value === 'string' && isBase64Url(value))
        map.set(8, Buffer.from(value, 'base64url'));
      else map.set(key === undefined ? label : key, value as CborValue);
    }
    return map;
  });
  return encodeCbor(records);
}

/** Encodes a pack as SenML JSON bytes. */
export function encodeSenMLJson(pack: readonly SenMLPackRecord[]): Uint8Array {
  return Buffer.from(JSON.stringify(pack), 'utf8');
}

/** Decodes a resolved `vd` (base64url without padding) to its bytes. */
export function decodeDataValue(vd: string): Uint8Array {
  return Buffer.from(vd, 'base64url');
}
