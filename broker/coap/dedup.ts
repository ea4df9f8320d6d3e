/**
 * Message deduplication (RFC 7252 §4.5): a request is identified by (peer, message id) for
 * EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON). A duplicate CON gets the same answer again (the
 * piggybacked response, or the empty ACK of a separate response) and is not processed twice; a
 * duplicate NON is dropped.
 *
 * Memory is bounded: at `maxEntries` the oldest record is forgotten (counted in `evicted`). Under a
 * sustained rate above maxEntries / lifetime the detection window therefore shrinks; the default of
 * 100 000 records covers 400 requests/s for the full 247 s.
 */

export const ExchangeState = {
  /** Being processed; no answer has been sent yet. */
  Processing: 0,
  /** Answered with an empty ACK; the response follows separately. */
  Acknowledged: 1,
  /** Answered (piggybacked, or a NON that needs nothing resent). */
  Answered: 2,
} as const;
export type ExchangeState = (typeof ExchangeState)[keyof typeof ExchangeState];

export interface ExchangeRecord {
  expiresAt: number;
  state: ExchangeState;
  /** The piggybacked response, resent as is to a duplicate CON (when it had options or a payload). */
  response: Buffer | null;
  /**
   * The code of a bare piggybacked response (no options, no payload: the common 2.04), re-encoded for
   * a duplicate from its own message id and token, which are the original's. Keeping a number instead
   * of a buffer per remembered exchange keeps the garbage collector out of the CON hot path.
   */
  responseCode: number;
}

export class DuplicateDetector {
  private readonly records = new Map<string, ExchangeRecord>();
  /**
   * Arrival order, as a ring: evicting "the oldest" from a Map by iterating it would walk over the
   * tombstones of every earlier deletion (V8 compacts a Map only when it next grows), which at
   * capacity made each insertion cost thousands of steps.
   */
  private readonly ringKeys: (string | undefined)[];
  private readonly ringRecords: (ExchangeRecord | undefined)[];
  private head = 0;
  private count = 0;
  evicted = 0;

  constructor(private readonly maxEntries: number) {
    this.ringKeys = new Array(Math.max(0, maxEntries));
    this.ringRecords = new Array(Math.max(0, maxEntries));
  }

  get size(): number {
    return this.records.size;
  }

  /** The live record of an earlier message with this key, if any. */
  find(key: string, now: number): ExchangeRecord | undefined {
    const record = this.records.get(key);
    if (record === undefined) return undefined;
    if (record.expiresAt > now) return record;
    this.records.delete(key);
    return undefined;
  }

  /** Remembers a new message; returns its record so the caller can store the answer in it. */
  remember(key: string, expiresAt: number, state: ExchangeState): ExchangeRecord {
    const record: ExchangeRecord = { expiresAt, state, response: null, responseCode: 0 };
    const capacity = this.maxEntries;
    if (capacity <= 0) return record;
    if (this.count === capacity) {
      if (this.dropOldest()) this.evicted++;
    }
    const slot = (this.head + this.count) % capacity;
    this.ringKeys[slot] = key;
    this.ringRecords[slot] = record;
    this.count++;
    this.records.set(key, record);
    return record;
  }

  /**
   * Drops expired records from the front. Records are kept in arrival order and CON records live
   * longer than NON ones, so this stops at the first live record: a few expired NON records may wait
   * behind it until a later sweep (`find` ignores them meanwhile).
   */
  sweep(now: number): void {
    while (this.count > 0 && this.ringRecords[this.head]!.expiresAt <= now) this.dropOldest();
  }

  clear(): void {
    this.records.clear();
    this.ringKeys.fill(undefined);
    this.ringRecords.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  /** Removes the oldest ring entry; true if its record was still in the map (not already replaced). */
  private dropOldest(): boolean {
    const key = this.ringKeys[this.head]!;
    const record = this.ringRecords[this.head];
    this.ringKeys[this.head] = undefined;
    this.ringRecords[this.head] = undefined;
    this.head = (this.head + 1) % this.maxEntries;
    this.count--;
    if (this.records.get(key) !== record) return false;
    this.records.delete(key);
    return true;
  }
}
