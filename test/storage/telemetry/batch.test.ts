/** Batch helpers and the spool's byte form of a batch. */
import { describe, expect, it } from 'vitest';
import { countRowBatch, SenMLError } from '../../../codecs/index.js';
import { batchItemCount, estimateRowBytes, splitBatch } from '../../../storage/telemetry/batch.js';
import {
  BatchDecodeError,
  decodeBatch,
  encodeBatch,
  encodedRecord,
  materialize,
} from '../../../storage/telemetry/batch-codec.js';
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

  it('joins encoded parts without decoding them; decode and materialize give every row back', () => {
    const p1 = { rows: senmlRows(5, { start: 1e9 }), invalid: invalidMessages(1) };
    const p2 = { rows: messageRows(2), invalid: [] };
    const own = { rows: senmlRows(3, { start: 2e9 }), invalid: [] };
    const batch = {
      ...own,
      parts: [
        { bytes: encodeBatch(p1), rows: 5, invalid: 1 },
        { bytes: encodeBatch(p2), rows: 2, invalid: 0 },
      ],
    };
    expect(batchItemCount(batch)).toBe(11);
    const decoded = decodeBatch(encodeBatch(batch));
    const flat = materialize(batch);
    for (const b of [decoded, flat]) {
      expect(b.rows).toHaveLength(10);
      expect(b.invalid).toHaveLength(1);
      expect(b.rows.filter((r) => r.kind === 'message')).toEqual(p2.rows);
    }
    expect(flat.parts).toBeUndefined();
    // a parts-only batch of one part is that part's bytes
    const single = { rows: [], invalid: [], parts: [{ bytes: encodeBatch(p2), rows: 2, invalid: 0 }] };
    expect(encodeBatch(single)).toBe(single.parts[0]!.bytes);
    // a bad part is refused like a bad batch
    const bad = {
      rows: [],
      invalid: [],
      parts: [p1, p2].map(() => ({ bytes: Uint8Array.from([0xc1]), rows: 1, invalid: 0 })),
    };
    expect(() => decodeBatch(encodeBatch(bad))).toThrow(BatchDecodeError);
  });

  it('reads the counts of a joined batch without decoding it (a spool record for a store that takes bytes)', () => {
    const p1 = { rows: senmlRows(4), invalid: invalidMessages(2) };
    const p2 = { rows: messageRows(3), invalid: [] };
    const joined = encodeBatch({
      rows: [],
      invalid: [],
      parts: [
        { bytes: encodeBatch(p1), rows: 4, invalid: 2 },
        { bytes: encodeBatch(p2), rows: 3, invalid: 0 },
      ],
    });
    expect(countRowBatch(joined)).toEqual({ rows: 7, invalid: 2 });
    expect(encodedRecord(joined).parts).toEqual([{ bytes: joined, rows: 7, invalid: 2 }]);
    const single = encodeBatch(p1);
    expect(countRowBatch(single)).toBeNull();
    expect(encodedRecord(single).parts).toEqual([{ bytes: single, rows: 4, invalid: 2 }]);
    expect(() => encodedRecord(Uint8Array.from([0x94, 3, 0xc1]))).toThrow(BatchDecodeError);
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
