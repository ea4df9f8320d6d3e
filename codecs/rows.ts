/**
 * Storage rows produced from envelopes, and the compact column form in which a worker hands SenML rows back to the
 * main thread (one transferred ArrayBuffer + a de-duplicated string table instead of thousands of cloned objects).
 */
import { classifyContentType } from './content-type.js';
import type { Envelope } from './envelope.js';
import {
  parseSenMLClassified,
  type ResolvedRecordSink,
  type SenMLOptions,
  type SenMLRecord,
} from './senml.js';
import { SenMLError } from './senml-error.js';

/** One resolved SenML record of one message. Absent optional fields are `undefined` (the keys are always there). */
export interface SenMLRow {
  kind: 'senml';
  channel: string;
  subtopic: string;
  publisher: string;
  protocol: string;
  /** Resolved name (bn + n). */
  name: string;
  unit?: string | undefined;
  /** Exactly one of value / stringValue / boolValue / dataValue is set, or none when the record only has a sum. */
  value?: number | undefined;
  stringValue?: string | undefined;
  boolValue?: boolean | undefined;
  /** Data value, base64url without padding (also for CBOR byte strings). */
  dataValue?: string | undefined;
  sum?: number | undefined;
  /** Absolute time, seconds since the Unix epoch (double; relative SenML times resolved against `created`). */
  time: number;
  /** SenML update time (ut), seconds. */
  updateTime?: number | undefined;
}

/** A whole message whose content type is not parsed (octet-stream, E2E ciphertext, SenML EXI/XML...). */
export interface MessageRow {
  kind: 'message';
  channel: string;
  subtopic: string;
  publisher: string;
  protocol: string;
  contentType: string;
  /** Reception time, ms since the Unix epoch. */
  created: number;
  payload: Uint8Array;
}

export type Row = SenMLRow | MessageRow;

/** A message whose SenML payload is invalid: kept whole, with the reason, for a dead-letter table. */
export interface InvalidMessage {
  envelope: Envelope;
  error: SenMLError;
}

export function senmlRow(envelope: Envelope, record: SenMLRecord): SenMLRow {
  return {
    kind: 'senml',
    channel: envelope.channel,
    subtopic: envelope.subtopic,
    publisher: envelope.publisher,
    protocol: envelope.protocol,
    name: record.n,
    unit: record.u,
    value: record.v,
    stringValue: record.vs,
    boolValue: record.vb,
    dataValue: record.vd,
    sum: record.s,
    time: record.t,
    updateTime: record.ut,
  };
}

/** A whole-message row. The payload is referenced, not copied. */
export function messageRow(envelope: Envelope): MessageRow {
  return {
    kind: 'message',
    channel: envelope.channel,
    subtopic: envelope.subtopic,
    publisher: envelope.publisher,
    protocol: envelope.protocol,
    contentType: envelope.contentType,
    created: envelope.created,
    payload: envelope.payload,
  };
}

export type RowLimits = Pick<SenMLOptions, 'maxBytes' | 'maxRecords'>;

/**
 * What the storage path makes of one envelope, synchronously (the worker does the same, in bulk): SenML JSON/CBOR
 * → one row per resolved record (relative times against `created`); any other content type → one message row.
 * Returns the error instead of rows when the SenML is invalid. Never throws for a well-typed envelope.
 */
export function envelopeToRows(
  envelope: Envelope,
  limits?: RowLimits,
): { rows: Row[]; error: null } | { rows: []; error: SenMLError } {
  const cls = classifyContentType(envelope.contentType);
  if (cls.kind !== 'senml-json' && cls.kind !== 'senml-cbor')
    return { rows: [messageRow(envelope)], error: null };
  try {
    const records = parseSenMLClassified(envelope.payload, cls, {
      now: envelope.created / 1000,
      maxBytes: limits?.maxBytes,
      maxRecords: limits?.maxRecords,
    });
    const rows: Row[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) rows[i] = senmlRow(envelope, records[i]!);
    return { rows, error: null };
  } catch (error) {
    if (error instanceof SenMLError) return { rows: [], error };
    throw error;
  }
}

// --- column form -------------------------------------------------------------------------------------------------

/** Float64 columns per row: time, value, sum, updateTime (NaN = absent: resolved SenML numbers are never NaN). */
const F64_PER_ROW = 4;
/** Int32 columns per row: channel, subtopic, publisher, protocol, name, unit, kind, string value (indexes into the
 * string table; -1 = absent). */
const I32_PER_ROW = 8;
const BYTES_PER_ROW = F64_PER_ROW * 8 + I32_PER_ROW * 4;

const FRONT_SIZE = 256;
const FRONT_MASK = FRONT_SIZE - 1;

const KIND_SUM_ONLY = 0;
const KIND_V = 1;
const KIND_VS = 2;
const KIND_VB_FALSE = 3;
const KIND_VB_TRUE = 4;
const KIND_VD = 5;

/** SenML rows in column form: `buffer` starts with `count` rows (Float64 block, then Int32 block); it may be longer. */
export interface RowColumns {
  buffer: ArrayBuffer;
  count: number;
  strings: string[];
}

interface LastHeader {
  channel: string | undefined;
  channelId: number;
  subtopic: string | undefined;
  subtopicId: number;
  publisher: string | undefined;
  publisherId: number;
  protocol: string | undefined;
  protocolId: number;
}

/** `undefined` never equals a string, so the first envelope always interns its header fields. */
function newLastHeader(): LastHeader {
  return {
    channel: undefined,
    channelId: -1,
    subtopic: undefined,
    subtopicId: -1,
    publisher: undefined,
    publisherId: -1,
    protocol: undefined,
    protocolId: -1,
  };
}

/** Builds {@link RowColumns}; strings (ids, names, units) are stored once per batch. */
export class RowColumnsWriter implements ResolvedRecordSink {
  #capacity: number;
  #f64: Float64Array;
  #i32: Int32Array;
  #count = 0;
  #start = 0;
  #strings: string[] = [];
  #index = new Map<string, number>();
  #frontKeys: Array<string | undefined> = new Array(FRONT_SIZE).fill(undefined);
  #frontIds = new Int32Array(FRONT_SIZE);
  #last = newLastHeader();

  constructor(capacity = 1024) {
    this.#capacity = Math.max(16, capacity);
    this.#f64 = new Float64Array(this.#capacity * F64_PER_ROW);
    this.#i32 = new Int32Array(this.#capacity * I32_PER_ROW);
  }

  get count(): number {
    return this.#count;
  }

  #intern(s: string): number {
    // Front cache, direct-mapped on (length, first, last char): most lookups are a few repeated names and units, and
    // comparing a short string is cheaper than hashing a freshly decoded one for the Map.
    const n = s.length;
    const slot = n === 0 ? 0 : (n * 31 + s.charCodeAt(0) * 7 + s.charCodeAt(n - 1)) & FRONT_MASK;
    if (this.#frontKeys[slot] === s) return this.#frontIds[slot]!;
    let id = this.#index.get(s);
    if (id === undefined) {
      id = this.#strings.length;
      this.#strings.push(s);
      this.#index.set(s, id);
    }
    this.#frontKeys[slot] = s;
    this.#frontIds[slot] = id;
    return id;
  }

  #grow(): void {
    this.#capacity *= 2;
    const f64 = new Float64Array(this.#capacity * F64_PER_ROW);
    f64.set(this.#f64);
    const i32 = new Int32Array(this.#capacity * I32_PER_ROW);
    i32.set(this.#i32);
    this.#f64 = f64;
    this.#i32 = i32;
  }

  /** Appends the rows of one message (resolved records in any order; they are kept in the given order). */
  addRecords(envelope: Envelope, records: readonly SenMLRecord[]): void {
    this.begin(envelope);
    for (const r of records) this.add(r.n, r.u, r.t, r.v, r.vs, r.vb, r.vd, r.s, r.ut, undefined);
    this.end(true);
  }

  /** Starts the rows of one message: the following `add` calls are its resolved records. */
  begin(envelope: Envelope): void {
    this.#start = this.#count;
    // Consecutive messages mostly share channel/publisher: compare with the previous one before hashing.
    const last = this.#last;
    if (envelope.channel !== last.channel) {
      last.channel = envelope.channel;
      last.channelId = this.#intern(envelope.channel);
    }
    if (envelope.subtopic !== last.subtopic) {
      last.subtopic = envelope.subtopic;
      last.subtopicId = this.#intern(envelope.subtopic);
    }
    if (envelope.publisher !== last.publisher) {
      last.publisher = envelope.publisher;
      last.publisherId = this.#intern(envelope.publisher);
    }
    if (envelope.protocol !== last.protocol) {
      last.protocol = envelope.protocol;
      last.protocolId = this.#intern(envelope.protocol);
    }
  }

  /** One resolved record of the current message (the {@link ResolvedRecordSink} interface). */
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
    _bver: number | undefined,
  ): void {
    if (this.#count === this.#capacity) this.#grow();
    const f = this.#count * F64_PER_ROW;
    const i = this.#count * I32_PER_ROW;
    const f64 = this.#f64;
    const i32 = this.#i32;
    const last = this.#last;
    f64[f] = time;
    f64[f + 1] = v === undefined ? Number.NaN : v;
    f64[f + 2] = s === undefined ? Number.NaN : s;
    f64[f + 3] = ut === undefined ? Number.NaN : ut;
    i32[i] = last.channelId;
    i32[i + 1] = last.subtopicId;
    i32[i + 2] = last.publisherId;
    i32[i + 3] = last.protocolId;
    i32[i + 4] = this.#intern(name);
    i32[i + 5] = unit === undefined ? -1 : this.#intern(unit);
    if (v !== undefined) {
      i32[i + 6] = KIND_V;
      i32[i + 7] = -1;
    } else if (vs !== undefined) {
      i32[i + 6] = KIND_VS;
      i32[i + 7] = this.#intern(vs);
    } else if (vb !== undefined) {
      i32[i + 6] = vb ? KIND_VB_TRUE : KIND_VB_FALSE;
      i32[i + 7] = -1;
    } else if (vd !== undefined) {
      i32[i + 6] = KIND_VD;
      i32[i + 7] = this.#intern(vd);
    } else {
      i32[i + 6] = KIND_SUM_ONLY;
      i32[i + 7] = -1;
    }
    this.#count++;
  }

  /** Ends the current message. `inOrder: false` sorts its rows stably by time (SenML §4.6 resolved order). */
  end(inOrder: boolean): void {
    if (!inOrder) this.#sortRange(this.#start, this.#count);
  }

  /** Drops the rows of the current message (it turned out invalid). Interned strings stay (harmless). */
  abort(): void {
    this.#count = this.#start;
  }

  #sortRange(start: number, end: number): void {
    const n = end - start;
    if (n < 2) return;
    const f64 = this.#f64;
    const i32 = this.#i32;
    const order = Array.from({ length: n }, (_, k) => start + k);
    order.sort((a, b) => f64[a * F64_PER_ROW]! - f64[b * F64_PER_ROW]!); // stable
    const f = f64.slice(start * F64_PER_ROW, end * F64_PER_ROW);
    const i = i32.slice(start * I32_PER_ROW, end * I32_PER_ROW);
    for (let k = 0; k < n; k++) {
      const from = order[k]! - start;
      f64.set(f.subarray(from * F64_PER_ROW, (from + 1) * F64_PER_ROW), (start + k) * F64_PER_ROW);
      i32.set(i.subarray(from * I32_PER_ROW, (from + 1) * I32_PER_ROW), (start + k) * I32_PER_ROW);
    }
  }

  /**
   * Packs the columns into one ArrayBuffer (to transfer): `spare` when it is large enough, else a new exactly sized
   * one. Resets the writer, which keeps its scratch arrays for the next batch.
   */
  finish(spare?: ArrayBuffer | null): RowColumns {
    const count = this.#count;
    const needed = count * BYTES_PER_ROW;
    // a recycled buffer (from the reader's side) saves a fresh allocation, which costs more than writing the rows
    const buffer =
      spare !== undefined && spare !== null && spare.byteLength >= needed ? spare : new ArrayBuffer(needed);
    new Float64Array(buffer, 0, count * F64_PER_ROW).set(this.#f64.subarray(0, count * F64_PER_ROW));
    new Int32Array(buffer, count * F64_PER_ROW * 8, count * I32_PER_ROW).set(
      this.#i32.subarray(0, count * I32_PER_ROW),
    );
    const strings = this.#strings;
    this.#count = 0;
    this.#start = 0;
    this.#strings = [];
    this.#index = new Map();
    this.#frontKeys.fill(undefined);
    this.#last = newLastHeader();
    return { buffer, count, strings };
  }
}

function opt(x: number): number | undefined {
  return Number.isNaN(x) ? undefined : x; // NaN marks an absent field
}

/** Turns {@link RowColumns} back into row objects (appended to `out`). */
export function readRowColumns(columns: RowColumns, out: Row[]): void {
  const { buffer, count, strings } = columns;
  if (count === 0) return;
  const f64 = new Float64Array(buffer, 0, count * F64_PER_ROW);
  const i32 = new Int32Array(buffer, count * F64_PER_ROW * 8, count * I32_PER_ROW);
  for (let r = 0; r < count; r++) {
    const f = r * F64_PER_ROW;
    const i = r * I32_PER_ROW;
    const unit = i32[i + 5]!;
    const kind = i32[i + 6]!;
    const sv = i32[i + 7]!;
    out.push({
      kind: 'senml',
      channel: strings[i32[i]!]!,
      subtopic: strings[i32[i + 1]!]!,
      publisher: strings[i32[i + 2]!]!,
      protocol: strings[i32[i + 3]!]!,
      name: strings[i32[i + 4]!]!,
      unit: unit < 0 ? undefined : strings[unit],
      value: kind === KIND_V ? f64[f + 1] : undefined,
      stringValue: kind === KIND_VS ? strings[sv] : undefined,
      boolValue: kind === KIND_VB_TRUE ? true : kind === KIND_VB_FALSE ? false : undefined,
      dataValue: kind === KIND_VD ? strings[sv] : undefined,
      sum: opt(f64[f + 2]!),
      time: f64[f]!,
      updateTime: opt(f64[f + 3]!),
    });
  }
}
