/** Batch helpers and the spool's byte form of a batch. */
import { describe, expect, it } from 'vitest';
import { SenMLError } from '../../../codecs/index.js';
import { batchItemCount, estimateRowBytes, splitBatch } from '../../../storage/telemetry/batch.js';
import { BatchDecodeError, decodeBatch, encodeBatch } from '../../../storage/telemetry/batch-codec.js';
import { invalidMessages, messageRows, senmlRows } from './fixtures.js';

describe('batch codec', () => {
  it('round-trips SenML rows (absent fields stay absent), whole messages and invalid messages', () => {
    const batch = { rows: [...senmlRows(40), ...messageRows(3)], invalid: invalidMessages(2) };
    const decoded = decodeBatch(encodeBatch(batch));
    expect(decoded.rows).toEqual(batch.rows);
    expect(
      decoded.rows.filter((r) => r.kind === 'senml').every((r) => 'unit' in r && 'updateTime' in r),
    ).toBe(true);
    expect(decoded.invalid).toHaveLength(2);
    const [a, b] = [decoded.invalid[0]!, batch.invalid[0]!];
    expect(a.envelope).toEqual(b.envelope);
    expect(a.error).toBeInstanceOf(SenMLError);
    expect(a.error.toJSON()).toEqual(b.error.toJSON());
  });

  it('refuses bytes that are not a batch', () => {
    expect(() => decodeBatch(Buffer.from([0xc1]))).toThrow(BatchDecodeError);
    expect(() => decodeBatch(encodeBatch({ rows: [], invalid: [] }).fill(0x90, 0, 1))).toThrow(
      BatchDecodeError,
    );
  });
});

describe('splitBatch', () => {
  it('halves rows first, then invalid messages, and cannot split a single item', () => {
    const rows = senmlRows(5);
    const invalid = invalidMessages(3);
    const [left, right] = splitBatch({ rows, invalid })!;
    expect(left.rows).toHaveLength(4);
    expect(left.invalid).toHaveLength(0);
    expect(right.rows).toHaveLength(1);
    expect(right.invalid).toHaveLength(3);
    const [l2, r2] = splitBatch({ rows: rows.slice(0, 1), invalid })!;
    expect(batchItemCount(l2)).toBe(2);
    expect(batchItemCount(r2)).toBe(2);
    expect(splitBatch({ rows: rows.slice(0, 1), invalid: [] })).toBeNull();
  });

  it('estimates the memory of payloads and string values', () => {
    const [message] = messageRows(1);
    expect(estimateRowBytes({ ...message!, payload: Buffer.alloc(10_000) })).toBeGreaterThan(10_000);
    expect(estimateRowBytes(senmlRows(1)[0]!)).toBeGreaterThan(100);
  });
});
