/**
 * A telemetry batch in bytes (the spool record, and what goes to the embedded history's worker thread): the row
 * batch form of codecs/row-batch.ts. Parts that arrived already encoded (from the codec workers) are joined as they
 * are; only rows that are objects get encoded here.
 */
import {
  BatchDecodeError,
  countRowBatch,
  decodeRowBatch,
  encodeRowBatch,
  joinRowBatches,
} from '../../codecs/index.js';
import type { TelemetryBatch } from './types.js';

export { BatchDecodeError };

export function encodeBatch(batch: TelemetryBatch): Uint8Array {
  const parts = batch.parts;
  if (parts === undefined || parts.length === 0) return encodeRowBatch(batch);
  // The batch's own rows first, then the parts: the order `materialize` gives.
  const all = [...parts];
  if (batch.rows.length + batch.invalid.length > 0) {
    all.unshift({ bytes: encodeRowBatch(batch), rows: batch.rows.length, invalid: batch.invalid.length });
  }
  return all.length === 1 ? all[0]!.bytes : joinRowBatches(all);
}

/**
 * The batch in bytes, in a buffer of its own (for a `transferList`): the encoder's output may share msgpackr's
 * buffer, and a single encoded part is the pipeline's, kept for a retry.
 */
export function encodeBatchForTransfer(batch: TelemetryBatch): Uint8Array<ArrayBuffer> {
  return new Uint8Array(encodeBatch(batch));
}

/**
 * The batch of a spool record for a store that takes bytes: the record as one encoded part, with its counts read
 * from the joined form's header when it has one (no decoding of rows on the event loop), else from a decode.
 * @throws {BatchDecodeError} when the bytes are not a batch
 */
export function encodedRecord(data: Uint8Array): TelemetryBatch {
  let counts = countRowBatch(data);
  if (counts === null) {
    const decoded = decodeRowBatch(data);
    counts = { rows: decoded.rows.length, invalid: decoded.invalid.length };
  }
  return { rows: [], invalid: [], parts: [{ bytes: data, ...counts }] };
}

/** @throws {BatchDecodeError} when the bytes are not a batch. The result holds rows only (no encoded parts). */
export function decodeBatch(data: Uint8Array): TelemetryBatch {
  return decodeRowBatch(data);
}

/** The batch with its encoded parts decoded into rows (for stores and steps that work on row objects). */
export function materialize(batch: TelemetryBatch): TelemetryBatch {
  const parts = batch.parts;
  if (parts === undefined || parts.length === 0) return batch;
  const rows = [...batch.rows];
  const invalid = [...batch.invalid];
  for (const part of parts) {
    const decoded = decodeRowBatch(part.bytes);
    for (const row of decoded.rows) rows.push(row);
    for (const entry of decoded.invalid) invalid.push(entry);
  }
  return { rows, invalid };
}
