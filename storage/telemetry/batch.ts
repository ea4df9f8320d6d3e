/**
 * Batch helpers: the memory estimate that bounds the pipeline, and the split that isolates a row the store refuses.
 */
import type { EncodedRows, InvalidMessage, Row } from '../../codecs/index.js';
import { materialize } from './batch-codec.js';
import type { TelemetryBatch } from './types.js';

/**
 * Fixed cost of a row object in V8 (header, 14 slots, boxed numbers, its share of the arrays holding it); the
 * outage benchmark measured ~200 bytes of heap per queued SenML row. Strings are mostly shared.
 */
const ROW_OVERHEAD = 200;
const INVALID_OVERHEAD = 320;

/**
 * Approximate heap bytes a row keeps alive: a fixed object cost plus the bytes that are its own (payloads, string
 * and data values). Header strings (channel, publisher, names) are shared across the rows of a message and not
 * counted. An estimate for bounding memory, not an accounting.
 */
export function estimateRowBytes(row: Row): number {
  if (row.kind === 'message') return ROW_OVERHEAD + row.payload.byteLength;
  let bytes = ROW_OVERHEAD;
  if (row.stringValue !== undefined) bytes += row.stringValue.length * 2;
  if (row.dataValue !== undefined) bytes += row.dataValue.length * 2;
  return bytes;
}

export function estimateInvalidBytes(invalid: InvalidMessage): number {
  return INVALID_OVERHEAD + invalid.envelope.payload.byteLength + invalid.error.message.length * 2;
}

/** Bytes an encoded part keeps alive, plus a small fixed cost per item (its share of counters and arrays). */
export function estimateEncodedBytes(part: EncodedRows): number {
  return part.bytes.byteLength + 8 * (part.rows + part.invalid);
}

/** Rows (SenML + whole messages) of a batch, encoded parts included. */
export function batchRowCount(batch: TelemetryBatch): number {
  let n = batch.rows.length;
  if (batch.parts !== undefined) for (const part of batch.parts) n += part.rows;
  return n;
}

/** Invalid messages of a batch, encoded parts included. */
export function batchInvalidCount(batch: TelemetryBatch): number {
  let n = batch.invalid.length;
  if (batch.parts !== undefined) for (const part of batch.parts) n += part.invalid;
  return n;
}

export function batchItemCount(batch: TelemetryBatch): number {
  return batchRowCount(batch) + batchInvalidCount(batch);
}

/**
 * Splits a batch into two halves of its items (rows first, then invalid messages), to find the rows a store refuses
 * by bisection. A batch of one item cannot be split (returns null). Encoded parts are decoded first.
 */
export function splitBatch(whole: TelemetryBatch): [TelemetryBatch, TelemetryBatch] | null {
  const batch = materialize(whole);
  const total = batchItemCount(batch);
  if (total < 2) return null;
  const half = Math.ceil(total / 2);
  const rows = batch.rows.length;
  if (half <= rows) {
    return [
      { rows: batch.rows.slice(0, half), invalid: [] },
      { rows: batch.rows.slice(half), invalid: batch.invalid },
    ];
  }
  const invalidHalf = half - rows;
  return [
    { rows: batch.rows, invalid: batch.invalid.slice(0, invalidHalf) },
    { rows: [], invalid: batch.invalid.slice(invalidHalf) },
  ];
}
