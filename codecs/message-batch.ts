/**
 * The storage path's task format: N messages in one transferable ArrayBuffer, written on the broker's hot path.
 *
 * Why not the msgpack batch form of envelope.ts: a tap writing five strings per message cost the forwarding path
 * ~0.9 µs per message at 860k msgs/s (bench/storage/tap.ts). Here the strings a message repeats — channel,
 * subtopic, publisher, protocol: its {@link MessageSource}, and the content type — are interned: each distinct one
 * travels once per batch in a string table beside the buffer, and a message costs a 20-byte head plus its payload.
 *
 *   per message: u32 source slot, u32 content-type slot, f64 created (ms), u32 payload length, payload bytes
 *   (little-endian, no alignment); `sources` holds 4 strings per slot, `contentTypes` one.
 *
 * In-process only (both ends run this file): not a wire or disk format.
 */
import { BatchBuffer } from './batch-buffer.js';
import type { Envelope } from './envelope.js';

/**
 * Where messages come from, as the storage path records them. Made once per (topic, publisher) by the caller and
 * reused for every message of that pair: the writer keeps its slot in the open batch on the object.
 */
export class MessageSource {
  /** @internal the batch (writer epoch) in which `slot` is valid */
  epoch = -1;
  /** @internal */
  slot = 0;

  constructor(
    readonly channel: string,
    readonly subtopic: string,
    readonly publisher: string,
    readonly protocol: string,
  ) {}
}

/** A finished batch: the buffer (bytes `[0, byteLength)`) to transfer, and its string tables to clone. */
export interface PackedMessages {
  buffer: ArrayBuffer;
  byteLength: number;
  count: number;
  /** Four strings per source slot: channel, subtopic, publisher, protocol. */
  sources: string[];
  contentTypes: string[];
}

const HEAD = 20;

export class MessageBatchWriter {
  /** Bumped by `finish`: a source whose `epoch` differs has no slot in the open batch yet. */
  #epoch: number;
  readonly #out: BatchBuffer;
  #count = 0;
  #sources: string[] = [];
  #contentTypes: string[] = [];
  #contentTypeSlots = new Map<string, number>();
  #lastContentType = '';
  #lastContentTypeSlot = -1;

  constructor(initialBytes = 64 * 1024) {
    // Writers share MessageSource objects (a test, a benchmark and a pool in one process): epochs must not collide.
    this.#epoch = nextEpoch();
    this.#out = new BatchBuffer(initialBytes);
  }

  get count(): number {
    return this.#count;
  }

  get byteLength(): number {
    return this.#out.length;
  }

  /** Appends one message; copies the payload (the caller may reuse its buffer on return). */
  add(source: MessageSource, contentType: string, created: number, payload: Uint8Array): void {
    const len = payload.byteLength;
    const out = this.#out;
    out.ensure(HEAD + len);
    if (source.epoch !== this.#epoch) {
      source.epoch = this.#epoch;
      source.slot = this.#sources.length >> 2;
      this.#sources.push(source.channel, source.subtopic, source.publisher, source.protocol);
    }
    let typeSlot = this.#lastContentTypeSlot;
    if (contentType !== this.#lastContentType || typeSlot < 0) typeSlot = this.#contentTypeSlot(contentType);
    const view = out.view;
    const p = out.length;
    view.setUint32(p, source.slot, true);
    view.setUint32(p + 4, typeSlot, true);
    view.setFloat64(p + 8, created, true);
    view.setUint32(p + 16, len, true);
    out.bytes.set(payload, p + HEAD);
    out.length = p + HEAD + len;
    this.#count++;
  }

  /** Hands the open batch over (its buffer is the caller's now, e.g. for a transferList) and starts the next. */
  finish(): PackedMessages {
    const batch: PackedMessages = {
      ...this.#out.take(),
      count: this.#count,
      sources: this.#sources,
      contentTypes: this.#contentTypes,
    };
    this.#count = 0;
    this.#sources = [];
    this.#contentTypes = [];
    this.#contentTypeSlots = new Map();
    this.#lastContentType = '';
    this.#lastContentTypeSlot = -1;
    this.#epoch = nextEpoch();
    return batch;
  }

  /** Gives a finished batch's buffer back for reuse once nobody reads it (detached buffers are ignored). */
  recycle(buffer: ArrayBuffer): void {
    this.#out.recycle(buffer);
  }

  #contentTypeSlot(contentType: string): number {
    let slot = this.#contentTypeSlots.get(contentType);
    if (slot === undefined) {
      slot = this.#contentTypes.length;
      this.#contentTypes.push(contentType);
      this.#contentTypeSlots.set(contentType, slot);
    }
    this.#lastContentType = contentType;
    this.#lastContentTypeSlot = slot;
    return slot;
  }
}

let epochs = 0;
function nextEpoch(): number {
  epochs = (epochs + 1) | 0;
  return epochs;
}

/** The batch is not what {@link MessageBatchWriter} writes (a programming error: both ends run the same code). */
export class MessageBatchError extends Error {
  override readonly name = 'MessageBatchError';
}

/**
 * Decodes a batch into envelopes. Payloads are views into `buffer` (no copy).
 * @throws {MessageBatchError}
 */
export function unpackMessages(batch: PackedMessages): Envelope[] {
  const { buffer, byteLength, sources, contentTypes } = batch;
  if (byteLength > buffer.byteLength) throw new MessageBatchError('byteLength past the buffer');
  const view = new DataView(buffer, 0, byteLength);
  const out: Envelope[] = [];
  let p = 0;
  while (p < byteLength) {
    if (p + HEAD > byteLength) throw new MessageBatchError('truncated message head');
    const slot = view.getUint32(p, true) * 4;
    const contentType = contentTypes[view.getUint32(p + 4, true)];
    const created = view.getFloat64(p + 8, true);
    const len = view.getUint32(p + 16, true);
    if (slot + 3 >= sources.length || contentType === undefined)
      throw new MessageBatchError('bad string slot');
    if (p + HEAD + len > byteLength) throw new MessageBatchError('truncated payload');
    out.push({
      channel: sources[slot]!,
      subtopic: sources[slot + 1]!,
      publisher: sources[slot + 2]!,
      protocol: sources[slot + 3]!,
      contentType,
      created,
      payload: new Uint8Array(buffer, p + HEAD, len),
    });
    p += HEAD + len;
  }
  if (out.length !== batch.count) throw new MessageBatchError('message count mismatch');
  return out;
}

/** Packs envelopes into one batch (tests, benchmarks; the broker's tap uses a long-lived writer). */
export function packMessages(envelopes: readonly Envelope[]): PackedMessages {
  let estimate = 0;
  for (const e of envelopes) estimate += HEAD + e.payload.byteLength;
  const writer = new MessageBatchWriter(estimate);
  for (const e of envelopes) {
    writer.add(
      new MessageSource(e.channel, e.subtopic, e.publisher, e.protocol),
      e.contentType,
      e.created,
      e.payload,
    );
  }
  return writer.finish();
}
