/**
 * The internal message envelope and its msgpack forms (msgpackr).
 *
 * - Network form ({@link packEnvelope} / {@link unpackEnvelope}): a plain msgpack map (`useRecords: false`), readable by
 *   any msgpack implementation (NATS bus between independently deployed nodes).
 * - Batch form ({@link EnvelopeBatchWriter} / {@link unpackEnvelopeBatch}): N envelopes in ONE ArrayBuffer, to be
 *   transferred to a worker thread. It uses a msgpackr shared structure fixed in this file (both ends load the same
 *   code), so each envelope is a record without its keys: smaller and faster to decode. Not for the network.
 */
import { Packr, Unpackr } from 'msgpackr';
import { BatchBuffer } from './batch-buffer.js';

export interface Envelope {
  /** Channel id. */
  channel: string;
  /** Subtopic ('' when none), e.g. `room1/temp`. */
  subtopic: string;
  /** Publisher (thing) id. */
  publisher: string;
  /** Protocol it arrived on: 'mqtt', 'http', 'ws', 'coap'... */
  protocol: string;
  /** Media type of the payload, e.g. `application/senml+json`. */
  contentType: string;
  /** Reception time, milliseconds since the Unix epoch. */
  created: number;
  /** The payload bytes. */
  payload: Uint8Array;
}

/** An envelope that failed to decode or has fields of the wrong type. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  readonly code = 'envelope';
}

/** Key order of the envelope: the shared msgpackr structure of the batch form. Changing it is a format change. */
export const ENVELOPE_KEYS: readonly string[] = Object.freeze([
  'channel',
  'subtopic',
  'publisher',
  'protocol',
  'contentType',
  'created',
  'payload',
]);

// --- network form --------------------------------------------------------------------------------------------------

const netPackr = new Packr({ useRecords: false });
const netUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const netUnpackrCopy = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  copyBuffers: true,
});

/** Packs an envelope as a plain msgpack map (interoperable). The result stays valid (msgpackr never reuses it). */
export function packEnvelope(envelope: Envelope): Uint8Array {
  return netPackr.pack(normalize(envelope));
}

export interface UnpackEnvelopeOptions {
  /** Copy the payload out of `bytes` (default false: the payload is a view into `bytes`). */
  copyPayload?: boolean;
}

/**
 * Decodes and checks a network-form envelope (a msgpack map with the seven fields; unknown keys are ignored;
 * `created` may also be a msgpack timestamp).
 * @throws {EnvelopeError}
 */
export function unpackEnvelope(bytes: Uint8Array, options?: UnpackEnvelopeOptions): Envelope {
  let value: unknown;
  try {
    value = (options?.copyPayload === true ? netUnpackrCopy : netUnpackr).unpack(bytes);
  } catch (error) {
    throw new EnvelopeError(
      `undecodable envelope: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return checkEnvelope(value);
}

function field(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Checks the shape of a decoded envelope. @throws {EnvelopeError} */
export function checkEnvelope(value: unknown): Envelope {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EnvelopeError('envelope is not a map');
  }
  const record = value as Record<string, unknown>;
  const out: Envelope = {
    channel: text(record, 'channel'),
    subtopic: text(record, 'subtopic'),
    publisher: text(record, 'publisher'),
    protocol: text(record, 'protocol'),
    contentType: text(record, 'contentType'),
    created: 0,
    payload: EMPTY,
  };
  let created = field(record, 'created');
  if (created instanceof Date) created = created.getTime();
  if (typeof created !== 'number' || !Number.isFinite(created)) {
    throw new EnvelopeError('envelope field "created" must be a number (ms since the epoch)');
  }
  out.created = created;
  const payload = field(record, 'payload');
  if (!(payload instanceof Uint8Array)) throw new EnvelopeError('envelope field "payload" must be binary');
  out.payload = payload;
  return out;
}

const EMPTY = new Uint8Array(0);

function text(record: Record<string, unknown>, key: string): string {
  const value = field(record, key);
  if (typeof value !== 'string') throw new EnvelopeError(`envelope field "${key}" must be a string`);
  return value;
}

/** A fresh object with exactly the envelope keys in {@link ENVELOPE_KEYS} order (nothing else gets packed). */
function normalize(e: Envelope): Envelope {
  return {
    channel: e.channel,
    subtopic: e.subtopic,
    publisher: e.publisher,
    protocol: e.protocol,
    contentType: e.contentType,
    created: e.created,
    payload: e.payload,
  };
}

// --- batch form ----------------------------------------------------------------------------------------------------

/** Each side gets its own copy: msgpackr annotates (mutates) the structures array it is given. */
function batchStructures(): string[][] {
  return [[...ENVELOPE_KEYS]];
}

const batchUnpackr = new Unpackr({
  structures: batchStructures(),
  maxSharedStructures: 1,
  int64AsType: 'number',
});

const utf8 = new TextEncoder();

/**
 * Writes a msgpack str (fixstr / str8 / str16 / str32) at `p`; returns the new position. The caller guarantees room
 * for 5 + 3 × `s.length` bytes. ASCII is copied by a loop; anything else goes through TextEncoder.
 */
function writeStr(b: Uint8Array, p: number, s: string): number {
  const n = s.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    p = writeStrHeader(b, p, n);
    for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
    return p + n;
  }
  // Unknown byte length: encode after the widest header the bound allows, then move it if a smaller one fits.
  const headerSize = n * 3 < 0x100 ? 2 : n * 3 < 0x10000 ? 3 : 5;
  const { written } = utf8.encodeInto(s, b.subarray(p + headerSize, p + headerSize + n * 3));
  const start = writeStrHeader(b, p, written);
  if (start !== p + headerSize) b.copyWithin(start, p + headerSize, p + headerSize + written);
  return start + written;
}

function writeStrHeader(b: Uint8Array, p: number, len: number): number {
  if (len < 32) {
    b[p] = 0xa0 | len;
    return p + 1;
  }
  if (len < 0x100) {
    b[p] = 0xd9;
    b[p + 1] = len;
    return p + 2;
  }
  if (len < 0x10000) {
    b[p] = 0xda;
    b[p + 1] = len >>> 8;
    b[p + 2] = len & 0xff;
    return p + 3;
  }
  b[p] = 0xdb;
  b[p + 1] = len >>> 24;
  b[p + 2] = (len >>> 16) & 0xff;
  b[p + 3] = (len >>> 8) & 0xff;
  b[p + 4] = len & 0xff;
  return p + 5;
}

/** Room for the array32 header (0xdd + count) written by {@link EnvelopeBatchWriter.finish}. */
const HEADER = 5;

/** N packed envelopes in one transferable ArrayBuffer (bytes `[0, byteLength)`). */
export interface PackedBatch {
  buffer: ArrayBuffer;
  byteLength: number;
  count: number;
}

/**
 * Accumulates envelopes into one growing ArrayBuffer. `add` copies the payload (the caller may reuse its buffer as
 * soon as `add` returns). `finish` hands the buffer over (ready for a `transferList`) and starts a new one.
 */
export class EnvelopeBatchWriter {
  readonly #out: BatchBuffer;
  #count = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#out = new BatchBuffer(initialBytes, HEADER);
  }

  /** Envelopes added since the last `finish`. */
  get count(): number {
    return this.#count;
  }

  /** Bytes used so far, header included. */
  get byteLength(): number {
    return this.#out.length;
  }

  /**
   * Appends one envelope. Hand-written encoder (this is the broker's hot path; msgpackr's `pack` + copy measured
   * ~3× slower): writes what a msgpackr `Packr` with `structures: [ENVELOPE_KEYS]` writes (record id 0x40 = that
   * shared structure, then the seven values as msgpack str / float64 / bin), which msgpackr's `Unpackr` decodes.
   * @throws {TypeError} when a field has the wrong type (programming errors).
   */
  add(envelope: Envelope): void {
    assertEnvelope(envelope);
    const { channel, subtopic, publisher, protocol, contentType, created, payload } = envelope;
    // Upper bound: record byte + 5 × (str header 5 + 3 bytes per UTF-16 unit) + float64 9 + bin header 5 + payload.
    const out = this.#out;
    out.ensure(
      1 +
        25 +
        3 * (channel.length + subtopic.length + publisher.length + protocol.length + contentType.length) +
        9 +
        5 +
        payload.byteLength,
    );
    const b = out.bytes;
    let p = out.length;
    b[p++] = 0x40; // record id of the shared structure ENVELOPE_KEYS
    p = writeStr(b, p, channel);
    p = writeStr(b, p, subtopic);
    p = writeStr(b, p, publisher);
    p = writeStr(b, p, protocol);
    p = writeStr(b, p, contentType);
    b[p] = 0xcb; // float64, big-endian
    out.view.setFloat64(p + 1, created);
    p += 9;
    const len = payload.byteLength;
    if (len < 0x100) {
      b[p] = 0xc4;
      b[p + 1] = len;
      p += 2;
    } else if (len < 0x10000) {
      b[p] = 0xc5;
      b[p + 1] = len >>> 8;
      b[p + 2] = len & 0xff;
      p += 3;
    } else {
      b[p] = 0xc6;
      out.view.setUint32(p + 1, len);
      p += 5;
    }
    b.set(payload, p);
    out.length = p + len;
    this.#count++;
  }

  /**
   * Gives a finished batch's buffer back once nobody uses it any more (e.g. the worker returned it): a later batch
   * reuses it instead of allocating. Keeps at most a few; detached buffers are ignored.
   */
  recycle(buffer: ArrayBuffer): void {
    this.#out.recycle(buffer);
  }

  /** Writes the header, returns the batch and resets the writer (the next batch gets another buffer). */
  finish(): PackedBatch {
    const bytes = this.#out.bytes;
    const count = this.#count;
    bytes[0] = 0xdd; // msgpack array 32
    bytes[1] = count >>> 24;
    bytes[2] = (count >>> 16) & 0xff;
    bytes[3] = (count >>> 8) & 0xff;
    bytes[4] = count & 0xff;
    this.#count = 0;
    return { ...this.#out.take(), count };
  }
}

/**
 * Checks the types of an envelope's fields (a programming error when wrong: they come from our own code).
 * @throws {TypeError}
 */
export function assertEnvelope(envelope: Envelope): void {
  const { channel, subtopic, publisher, protocol, contentType, created, payload } = envelope;
  if (!(payload instanceof Uint8Array)) throw new TypeError('envelope.payload must be a Uint8Array');
  if (typeof created !== 'number') throw new TypeError('envelope.created must be a number');
  if (
    typeof channel !== 'string' ||
    typeof subtopic !== 'string' ||
    typeof publisher !== 'string' ||
    typeof protocol !== 'string' ||
    typeof contentType !== 'string'
  ) {
    throw new TypeError('envelope channel, subtopic, publisher, protocol and contentType must be strings');
  }
}

/** Packs envelopes into one batch (see {@link EnvelopeBatchWriter}). */
export function packEnvelopeBatch(envelopes: readonly Envelope[]): PackedBatch {
  let estimate = HEADER;
  for (const e of envelopes) estimate += e.payload.byteLength + 128;
  const writer = new EnvelopeBatchWriter(estimate);
  for (const e of envelopes) writer.add(e);
  return writer.finish();
}

/**
 * Decodes a batch. Payloads are views into `buffer` (no copy): copy one if it must outlive the buffer.
 * @throws {EnvelopeError}
 */
export function unpackEnvelopeBatch(buffer: ArrayBuffer | Uint8Array, byteLength?: number): Envelope[] {
  const bytes =
    buffer instanceof Uint8Array
      ? buffer
      : new Uint8Array(buffer, 0, byteLength === undefined ? buffer.byteLength : byteLength);
  let value: unknown;
  try {
    value = batchUnpackr.unpack(bytes);
  } catch (error) {
    throw new EnvelopeError(`undecodable batch: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(value)) throw new EnvelopeError('batch is not an array');
  return value as Envelope[];
}

/**
 * Copies an envelope with its payload in a new, exactly sized ArrayBuffer (e.g. to keep it beyond a batch, or to
 * post it to another thread without cloning a larger buffer it is a view of).
 */
export function copyEnvelope(envelope: Envelope): Envelope {
  const e = normalize(envelope);
  e.payload = new Uint8Array(envelope.payload);
  return e;
}
