/**
 * The loss-free pipeline in front of a telemetry store (QuestDB or the embedded SQLite history).
 *
 * Flow: `write()` appends rows to the open batch (synchronously). A writer loop takes batches one at a time — the
 * spool's oldest record first, then memory — and hands each to the store; a batch stays ours until the store
 * acknowledged it. While the loop is busy, the open batch keeps growing up to `batchRows`, so batches grow with
 * load; an idle loop seals the open batch `lingerMs` after its first row.
 *
 * Failure handling:
 * - every store write is time-boxed (`flushTimeoutMs`): a write that never settles is abandoned (`store.abandon()`
 *   cancels what it can) and the same batch is re-sent after the backoff. The stores are idempotent for a re-sent
 *   batch (identical rows, same de-duplication keys), so a late success of the abandoned request cannot add rows;
 * - failures are retried with exponential backoff and jitter, without limit (an outage is waited out);
 * - a batch the store refuses as data (QuestDB 400) is split in halves until the refused rows are isolated; those
 *   go to the quarantine file (JSON lines) and are counted, the rest is written;
 * - when an outage lasts `spillAfterMs`, or memory passes `maxMemoryRows`/`maxMemoryBytes`, batches go to the disk
 *   spool (oldest first, keeping the order), and are replayed from there when the store is back, also by the next
 *   process. Invariant: the spool only holds batches older than those in memory, except the batch being written,
 *   which is appended first when it is still memory-only.
 * - past twice the memory bound with a spool that cannot take more (full, failing, or disabled), new rows are
 *   dropped and counted — the only way rows are lost, never silently.
 */

import { EventEmitter } from 'node:events';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EncodedRows, InvalidMessage, Row } from '../../codecs/index.js';
import {
  batchInvalidCount,
  batchItemCount,
  batchRowCount,
  estimateEncodedBytes,
  estimateInvalidBytes,
  estimateRowBytes,
  splitBatch,
} from './batch.js';
import { BatchDecodeError, decodeBatch, encodeBatch, encodedRecord, materialize } from './batch-codec.js';
import {
  type BackoffOptions,
  backoffDelay,
  type Clock,
  DEFAULT_BACKOFF,
  InterruptibleDelay,
  systemClock,
  timeBox,
} from './retry.js';
import { DiskSpool, type SpoolOptions } from './spool.js';
import {
  BatchRejectedError,
  errorMessage,
  FlushTimeoutError,
  silentTelemetryLogger,
  type TelemetryBatch,
  type TelemetryLogger,
  type TelemetrySink,
  type TelemetryStats,
  type TelemetryStore,
} from './types.js';

export interface PipelineOptions {
  store: TelemetryStore;
  /** Spool folder (created). `null` disables the spool: not loss-free (outages are bridged in memory only). */
  spoolDir: string | null;
  spool?: Omit<SpoolOptions, 'dir' | 'clock'>;
  /** Items (rows + invalid messages) per batch. Default 5000. */
  batchRows?: number;
  /** Estimated bytes per batch. Default 8 MiB. */
  batchBytes?: number;
  /** How long an idle writer waits for more rows before sending a partial batch. Default 200 ms. */
  lingerMs?: number;
  /** Time-box of one store write. Default 30 000 ms. */
  flushTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Outage length after which batches go to the spool. Default 10 000 ms. */
  spillAfterMs?: number;
  /** Memory bound (rows + invalid messages); past it batches spill to the spool. Default 100 000. */
  maxMemoryRows?: number;
  /** Memory bound (estimated bytes). Default 64 MiB. */
  maxMemoryBytes?: number;
  /** How long `close()` keeps trying to write before spooling the rest. Default 5000 ms. */
  closeTimeoutMs?: number;
  /** Where refused rows are kept (JSON lines). Default `<spoolDir>/quarantine.jsonl`; none without a spool. */
  quarantinePath?: string | null;
  clock?: Clock;
  random?: () => number;
  logger?: TelemetryLogger;
}

export interface PipelineEvents {
  /** A batch (or a part of a split batch) is in the store. */
  written: [{ seq: number; rows: number; invalid: number; fromSpool: boolean }];
  /** A write failed and will be retried after `delayMs`. */
  retry: [{ attempt: number; delayMs: number; error: string; timedOut: boolean }];
  /** Batches were appended to the spool. */
  spilled: [{ batches: number; rows: number; reason: 'memory' | 'outage' | 'close' }];
  /** Rows the store refused on their own, kept in the quarantine file. */
  quarantined: [{ rows: number; error: string }];
  /** Rows dropped (memory past its hard bound, spool unable to take them). */
  dropped: [{ rows: number }];
  /** Nothing is pending any more. */
  idle: [];
}

interface Entry {
  seq: number;
  batch: TelemetryBatch;
  items: number;
  bytes: number;
  acceptedAt: number;
  /** Its record is the spool's head: acknowledge it there once written. */
  spooled: boolean;
}

interface OpenBatch {
  rows: Row[];
  invalid: InvalidMessage[];
  parts: EncodedRows[];
  /** Items (rows + invalid) in `parts`. */
  partItems: number;
  bytes: number;
  acceptedAt: number;
}

interface FlushWaiter {
  target: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: unknown;
}

type Outcome =
  | { kind: 'ok' }
  | { kind: 'rejected'; error: string }
  | { kind: 'failed'; error: string; timedOut: boolean }
  | { kind: 'interrupted' };

const DROP_LOG_INTERVAL_MS = 10_000;
/** Pause before spilling again after the spool refused an append (it frees space as the store catches up). */
const SPOOL_RETRY_MS = 1000;
/** Batches spilled per event-loop turn (outside close and the hard memory bound). */
const SPILL_SLICE = 1;

function newOpen(): OpenBatch {
  return { rows: [], invalid: [], parts: [], partItems: 0, bytes: 0, acceptedAt: 0 };
}

function estimateBatchBytes(batch: TelemetryBatch): number {
  let bytes = 0;
  for (const row of batch.rows) bytes += estimateRowBytes(row);
  for (const invalid of batch.invalid) bytes += estimateInvalidBytes(invalid);
  if (batch.parts !== undefined) for (const part of batch.parts) bytes += estimateEncodedBytes(part);
  return bytes;
}

function quarantineLine(whole: TelemetryBatch, error: string, now: number): string {
  const batch = materialize(whole);
  const base64 = (bytes: Uint8Array): string =>
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return `${JSON.stringify({
    time: new Date(now).toISOString(),
    error,
    rows: batch.rows.map((row) => (row.kind === 'message' ? { ...row, payload: base64(row.payload) } : row)),
    invalid: batch.invalid.map(({ envelope, error: senmlError }) => ({
      envelope: { ...envelope, payload: base64(envelope.payload) },
      error: senmlError.toJSON(),
    })),
  })}\n`;
}

export class TelemetryPipeline extends EventEmitter<PipelineEvents> implements TelemetrySink {
  readonly #store: TelemetryStore;
  readonly #spool: DiskSpool | null;
  readonly #batchRows: number;
  readonly #batchBytes: number;
  readonly #lingerMs: number;
  readonly #flushTimeoutMs: number;
  readonly #backoff: BackoffOptions;
  readonly #spillAfterMs: number;
  readonly #maxMemoryRows: number;
  readonly #maxMemoryBytes: number;
  readonly #closeTimeoutMs: number;
  readonly #quarantinePath: string | null;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: TelemetryLogger;
  readonly #delay: InterruptibleDelay;

  #open: OpenBatch = newOpen();
  readonly #queue: Entry[] = [];
  #current: Entry | null = null;
  #lastSeq: number;
  #ackedSeq: number;
  #memoryRows = 0;
  #memoryBytes = 0;
  #lingerTimer: unknown = null;
  #lingerExpired = false;
  #wakeUp: (() => void) | null = null;
  #flushWaiters: FlushWaiter[] = [];
  #capacityWaiters: Array<() => void> = [];
  #consecutiveFailures = 0;
  #outageSince: number | null = null;
  #spilling = false;
  #stopping = false;
  /** Ends the pending store write's time-box at once (close() past its deadline). */
  #interruptAttempt: (() => void) | null = null;
  #accepting = true;
  #closing: Promise<void> | null = null;
  #closed = false;
  readonly #loop: Promise<void>;
  #lastDropLog = Number.NEGATIVE_INFINITY;
  #spoolFailing = false;
  #spillScheduled = false;
  #spoolRetryAt = Number.NEGATIVE_INFINITY;

  #acceptedRows = 0;
  #acceptedInvalid = 0;
  #writtenRows = 0;
  #deadLettered = 0;
  #writtenBatches = 0;
  #spilledBatches = 0;
  #replayedBatches = 0;
  #retries = 0;
  #timeouts = 0;
  #rejectedBatches = 0;
  #quarantinedRows = 0;
  #droppedRows = 0;
  #rejectedClosed = 0;
  #corruptBatches = 0;
  #lastError: string | null = null;

  constructor(options: PipelineOptions) {
    super();
    this.#store = options.store;
    this.#batchRows = options.batchRows ?? 5000;
    this.#batchBytes = options.batchBytes ?? 8 * 1024 * 1024;
    this.#lingerMs = options.lingerMs ?? 200;
    this.#flushTimeoutMs = options.flushTimeoutMs ?? 30_000;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#spillAfterMs = options.spillAfterMs ?? 10_000;
    this.#maxMemoryRows = options.maxMemoryRows ?? 100_000;
    this.#maxMemoryBytes = options.maxMemoryBytes ?? 64 * 1024 * 1024;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger ?? silentTelemetryLogger;
    this.#delay = new InterruptibleDelay(this.#clock);
    this.#spool =
      options.spoolDir === null
        ? null
        : DiskSpool.open({ ...options.spool, dir: options.spoolDir, clock: this.#clock });
    this.#quarantinePath =
      options.quarantinePath !== undefined
        ? options.quarantinePath
        : options.spoolDir === null
          ? null
          : join(options.spoolDir, 'quarantine.jsonl');
    this.#lastSeq = this.#spool?.lastSeq ?? 0;
    this.#ackedSeq = this.#lastSeq - (this.#spool?.records ?? 0);
    if (this.#spool !== null && !this.#spool.isEmpty) {
      this.#log.info(
        { records: this.#spool.records, rows: this.#spool.rows, bytes: this.#spool.bytes },
        'telemetry spool holds batches from an earlier run: replaying them first',
      );
    }
    if (this.#spool !== null && this.#spool.recovery.truncatedBytes > 0) {
      this.#log.warn(
        { truncatedBytes: this.#spool.recovery.truncatedBytes },
        'telemetry spool: torn last record cut off (crash during an append)',
      );
    }
    this.#loop = this.#run().catch((error: unknown) => {
      this.#log.error({ err: errorMessage(error) }, 'telemetry writer loop stopped');
    });
  }

  // --- TelemetrySink -------------------------------------------------------------------------------------------------

  write(rows: readonly Row[], invalid: readonly InvalidMessage[] = []): undefined | Promise<void> {
    const items = rows.length + invalid.length;
    let bytes = 0;
    for (let i = 0; i < rows.length; i++) bytes += estimateRowBytes(rows[i]!);
    for (let i = 0; i < invalid.length; i++) bytes += estimateInvalidBytes(invalid[i]!);
    const refused = this.#admit(items, bytes);
    if (refused !== null) return refused === 'drop' ? this.#whenUnderBound() : undefined;
    const now = this.#clock.now();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      this.#add(now, row, null, estimateRowBytes(row));
    }
    for (let i = 0; i < invalid.length; i++) {
      const entry = invalid[i]!;
      this.#add(now, null, entry, estimateInvalidBytes(entry));
    }
    this.#acceptedRows += rows.length;
    this.#acceptedInvalid += invalid.length;
    return this.#afterAccept();
  }

  writeEncoded(part: EncodedRows): undefined | Promise<void> {
    const items = part.rows + part.invalid;
    const bytes = estimateEncodedBytes(part);
    const refused = this.#admit(items, bytes);
    if (refused !== null) return refused === 'drop' ? this.#whenUnderBound() : undefined;
    const open = this.#open;
    if (this.#openItems() === 0) open.acceptedAt = this.#clock.now();
    open.parts.push(part);
    open.partItems += items;
    open.bytes += bytes;
    this.#acceptedRows += part.rows;
    this.#acceptedInvalid += part.invalid;
    if (this.#openItems() >= this.#batchRows || open.bytes >= this.#batchBytes) this.#seal();
    return this.#afterAccept();
  }

  flush(timeoutMs?: number): Promise<void> {
    this.#seal();
    const target = this.#lastSeq;
    if (this.#ackedSeq >= target || this.#isEmpty()) return Promise.resolve();
    if (this.#stopping) {
      return Promise.reject(
        new FlushTimeoutError('telemetry pipeline is closed; pending rows are in the spool'),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: FlushWaiter = { target, resolve, reject, timer: null };
      if (timeoutMs !== undefined) {
        waiter.timer = this.#clock.setTimeout(() => {
          this.#flushWaiters = this.#flushWaiters.filter((w) => w !== waiter);
          reject(
            new FlushTimeoutError(`telemetry not written within ${timeoutMs} ms (lag ${this.#lagMs()} ms)`),
          );
        }, timeoutMs);
      }
      this.#flushWaiters.push(waiter);
      this.#wake();
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  stats(): TelemetryStats {
    return {
      store: this.#store.kind,
      state: this.#closed
        ? 'closed'
        : this.#spilling
          ? 'spooling'
          : this.#consecutiveFailures > 0
            ? 'retrying'
            : 'ok',
      acceptedRows: this.#acceptedRows,
      acceptedInvalid: this.#acceptedInvalid,
      writtenRows: this.#writtenRows,
      deadLettered: this.#deadLettered,
      writtenBatches: this.#writtenBatches,
      lagMs: this.#lagMs(),
      memoryRows: this.#memoryRows,
      memoryBytes: this.#memoryBytes,
      spoolRecords: this.#spool?.records ?? 0,
      spoolRows: this.#spool?.rows ?? 0,
      spoolBytes: this.#spool?.bytes ?? 0,
      spilledBatches: this.#spilledBatches,
      replayedBatches: this.#replayedBatches,
      retries: this.#retries,
      timeouts: this.#timeouts,
      rejectedBatches: this.#rejectedBatches,
      quarantinedRows: this.#quarantinedRows,
      droppedRows: this.#droppedRows,
      rejectedClosed: this.#rejectedClosed,
      corruptRecords: (this.#spool?.corruptRecords ?? 0) + this.#corruptBatches,
      truncatedBytes: this.#spool?.recovery.truncatedBytes ?? 0,
      lastError: this.#lastError,
    };
  }

  /** Emits an event; a listener that throws is logged, never allowed to disturb the writer (or the caller). */
  #notify<K extends keyof PipelineEvents>(event: K, ...args: PipelineEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: PipelineEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ err: errorMessage(error), event }, 'telemetry event listener threw');
    }
  }

  // --- accepting -----------------------------------------------------------------------------------------------------

  /**
   * Whether `items` may come in: null when they are taken (and counted in memory); 'closed' (counted as rejected);
   * 'empty'; or 'drop' when memory is past twice its bound and the spool cannot take the queue (counted dropped).
   */
  #admit(items: number, bytes: number): 'closed' | 'empty' | 'drop' | null {
    if (!this.#accepting) {
      this.#rejectedClosed += items;
      return 'closed';
    }
    if (items === 0) return 'empty';
    if (this.#pastHardBound(items, bytes)) {
      this.#seal();
      this.#spillQueued('memory', true);
      if (this.#pastHardBound(items, bytes)) {
        this.#drop(items);
        return 'drop';
      }
    }
    this.#memoryRows += items;
    this.#memoryBytes += bytes;
    return null;
  }

  /** After rows came in: the linger timer, and the memory bound (spill; backpressure when even that is not enough). */
  #afterAccept(): undefined | Promise<void> {
    if (this.#openItems() > 0 && this.#lingerTimer === null) {
      this.#lingerTimer = this.#clock.setTimeout(this.#onLinger, this.#lingerMs);
    }
    if (this.#pastBound()) {
      this.#seal();
      this.#spillQueued('memory');
      if (this.#pastBound()) return this.#whenUnderBound();
    }
    return undefined;
  }

  #openItems(): number {
    return this.#open.rows.length + this.#open.invalid.length + this.#open.partItems;
  }

  #add(now: number, row: Row | null, invalid: InvalidMessage | null, bytes: number): void {
    const open = this.#open;
    if (this.#openItems() === 0) open.acceptedAt = now;
    if (row !== null) open.rows.push(row);
    else open.invalid.push(invalid!);
    open.bytes += bytes;
    if (this.#openItems() >= this.#batchRows || open.bytes >= this.#batchBytes) this.#seal();
  }

  readonly #onLinger = (): void => {
    this.#lingerTimer = null;
    this.#lingerExpired = true;
    // During a long outage the open batch goes to disk now, not when the writer is free again.
    if (this.#spilling) this.#seal();
    this.#wake();
  };

  /** Closes the open batch into a queued entry. */
  #seal(): void {
    if (this.#lingerTimer !== null) {
      this.#clock.clearTimeout(this.#lingerTimer);
      this.#lingerTimer = null;
    }
    this.#lingerExpired = false;
    const open = this.#open;
    const items = this.#openItems();
    if (items === 0) return;
    this.#open = newOpen();
    this.#queue.push({
      seq: ++this.#lastSeq,
      batch:
        open.parts.length === 0
          ? { rows: open.rows, invalid: open.invalid }
          : { rows: open.rows, invalid: open.invalid, parts: open.parts },
      items,
      bytes: open.bytes,
      acceptedAt: open.acceptedAt,
      spooled: false,
    });
    if (this.#spilling) this.#spillQueued('outage');
    this.#wake();
  }

  #pastBound(): boolean {
    return this.#memoryRows > this.#maxMemoryRows || this.#memoryBytes > this.#maxMemoryBytes;
  }

  #pastHardBound(items: number, bytes: number): boolean {
    return (
      this.#memoryRows + items > 2 * this.#maxMemoryRows ||
      this.#memoryBytes + bytes > 2 * this.#maxMemoryBytes
    );
  }

  #whenUnderBound(): Promise<void> {
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  #releaseMemory(items: number, bytes: number): void {
    this.#memoryRows -= items;
    this.#memoryBytes -= bytes;
    if (this.#capacityWaiters.length > 0 && (!this.#pastBound() || !this.#accepting)) {
      for (const resolve of this.#capacityWaiters.splice(0)) resolve();
    }
  }

  #drop(items: number): void {
    this.#droppedRows += items;
    this.#notify('dropped', { rows: items });
    const now = this.#clock.now();
    if (now - this.#lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.#lastDropLog = now;
      this.#log.error(
        { dropped: this.#droppedRows, memoryRows: this.#memoryRows, spoolBytes: this.#spool?.bytes ?? 0 },
        'telemetry rows dropped: memory past its hard bound and the spool cannot take more',
      );
    }
  }

  // --- spilling ------------------------------------------------------------------------------------------------------

  /**
   * Moves queued batches (oldest first) to the spool. The batch being written goes first when it is memory-only,
   * so the spool's order stays the write order. Returns false when the spool could not take everything.
   */
  #spillQueued(reason: 'memory' | 'outage' | 'close', all = reason === 'close'): boolean {
    const spool = this.#spool;
    if (spool === null) return false;
    // After a failed append (spool full, disk error) do not re-encode batches on every write: try again later.
    if (reason !== 'close' && this.#clock.now() < this.#spoolRetryAt) return false;
    // Encoding a batch for the spool costs the event loop ~1-2 µs per row: spill a slice now, the rest on the
    // next turns, so a large backlog never blocks the broker in one go.
    const limit = all ? Number.POSITIVE_INFINITY : SPILL_SLICE;
    let batches = 0;
    let rows = 0;
    try {
      const current = this.#current;
      // Under memory pressure alone the batch being written need not move; when anything follows it into the
      // spool, or for an outage or a shutdown, it goes first.
      if (current !== null && !current.spooled && (reason !== 'memory' || this.#queue.length > 0)) {
        this.#append(spool, current);
        current.spooled = true;
        batches++;
        rows += current.items;
      }
      while (this.#queue.length > 0) {
        if (batches >= limit) {
          this.#continueSpill(reason);
          return false;
        }
        const entry = this.#queue[0]!;
        this.#append(spool, entry);
        this.#queue.shift();
        this.#releaseMemory(entry.items, entry.bytes);
        batches++;
        rows += entry.items;
      }
      if (this.#spoolFailing) {
        this.#spoolFailing = false;
        this.#log.info({ spoolBytes: spool.bytes }, 'telemetry spool accepts batches again');
      }
      return true;
    } catch (error) {
      this.#spoolRetryAt = this.#clock.now() + SPOOL_RETRY_MS;
      if (!this.#spoolFailing) {
        this.#spoolFailing = true;
        this.#log.error(
          { err: errorMessage(error), spoolBytes: spool.bytes },
          'telemetry spool append failed',
        );
      }
      return false;
    } finally {
      if (batches > 0) {
        this.#spilledBatches += batches;
        this.#notify('spilled', { batches, rows, reason });
      }
    }
  }

  #continueSpill(reason: 'memory' | 'outage' | 'close'): void {
    if (this.#spillScheduled) return;
    this.#spillScheduled = true;
    setImmediate(() => {
      this.#spillScheduled = false;
      if (this.#accepting && (this.#spilling || this.#pastBound())) this.#spillQueued(reason);
    });
  }

  #append(spool: DiskSpool, entry: Entry): void {
    spool.append({
      seq: entry.seq,
      acceptedAt: entry.acceptedAt,
      rows: entry.items,
      data: encodeBatch(entry.batch),
    });
  }

  // --- the writer loop -----------------------------------------------------------------------------------------------

  #wake(): void {
    const wake = this.#wakeUp;
    this.#wakeUp = null;
    wake?.();
  }

  #waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeUp = resolve;
    });
  }

  #isEmpty(): boolean {
    return (
      this.#current === null &&
      this.#queue.length === 0 &&
      this.#openItems() === 0 &&
      (this.#spool === null || this.#spool.isEmpty)
    );
  }

  /** The next batch to write: the spool's head, else the oldest queued one, else the open batch once it lingered. */
  #take(): Entry | null {
    const spool = this.#spool;
    while (spool !== null && !spool.isEmpty) {
      const record = spool.peek();
      if (record === null) break;
      try {
        // A store that ships bytes anyway gets the record as it is (no decoding and re-encoding on the event loop).
        const batch = this.#store.takesEncoded ? encodedRecord(record.data) : decodeBatch(record.data);
        const bytes = estimateBatchBytes(batch);
        this.#memoryRows += record.rows;
        this.#memoryBytes += bytes;
        return {
          seq: record.seq,
          batch,
          items: record.rows,
          bytes,
          acceptedAt: record.acceptedAt,
          spooled: true,
        };
      } catch (error) {
        // A record with a good CRC that does not decode (another version wrote it?): keep its bytes aside, go on.
        this.#corruptBatches++;
        this.#log.error(
          { err: errorMessage(error), seq: record.seq, file: this.#quarantinePath },
          'telemetry spool record does not decode: moved to the quarantine file',
        );
        this.#quarantineRaw(record.seq, record.data, errorMessage(error));
        spool.ack();
      }
    }
    const queued = this.#queue.shift();
    if (queued !== undefined) return queued;
    if (this.#openItems() > 0 && (this.#lingerExpired || this.#flushWaiters.length > 0 || !this.#accepting)) {
      this.#seal();
      return this.#queue.shift() ?? null;
    }
    return null;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        // An entry left by a failed iteration is resumed (re-sent whole: the stores de-duplicate).
        const entry = this.#current ?? this.#take();
        if (entry === null) {
          this.#settleIdle();
          await this.#waitForWork();
          continue;
        }
        this.#current = entry;
        const delivered = await this.#deliver(entry);
        if (!delivered) return; // stopping: close() spools what is left, including this entry
        this.#current = null;
        try {
          if (entry.spooled) this.#ackSpooled(entry);
        } catch (error) {
          this.#log.error(
            { err: errorMessage(error) },
            'telemetry spool acknowledgement failed (record re-sent later)',
          );
        }
        this.#releaseMemory(entry.items, entry.bytes);
        this.#ackedSeq = entry.seq;
        this.#settleFlushes();
      } catch (error) {
        // Spool read errors (EIO), a throwing event listener...: never let the writer loop die; pause, go on.
        this.#log.error({ err: errorMessage(error) }, 'telemetry writer loop error');
        await this.#delay.wait(backoffDelay(1, this.#backoff, this.#random));
      }
    }
  }

  /** The entry's record is the spool's head (it was read from there, or appended first while being written). */
  #ackSpooled(entry: Entry): void {
    const spool = this.#spool!;
    const head = spool.peek();
    if (head === null || head.seq !== entry.seq) {
      // Cannot happen while the spool invariant holds; never acknowledge another batch's record.
      this.#log.error(
        { seq: entry.seq, head: head?.seq ?? null },
        'telemetry spool head is not the written batch',
      );
      return;
    }
    spool.ack();
    this.#replayedBatches++;
  }

  /** Writes one entry, splitting it when the store refuses data. False when interrupted by close(). */
  async #deliver(entry: Entry): Promise<boolean> {
    const parts: TelemetryBatch[] = [entry.batch];
    while (parts.length > 0) {
      if (this.#stopping) return false;
      const part = parts[0]!;
      const outcome = await this.#attempt(part);
      switch (outcome.kind) {
        case 'ok':
          parts.shift();
          this.#writtenRows += batchRowCount(part);
          this.#deadLettered += batchInvalidCount(part);
          this.#writtenBatches++;
          this.#recovered();
          this.#notify('written', {
            seq: entry.seq,
            rows: batchRowCount(part),
            invalid: batchInvalidCount(part),
            fromSpool: entry.spooled,
          });
          break;
        case 'rejected': {
          // The store answered, so it is up; the data is the problem.
          this.#recovered();
          this.#rejectedBatches++;
          let halves: [TelemetryBatch, TelemetryBatch] | null;
          try {
            halves = splitBatch(part);
          } catch (error) {
            // Bytes that cannot even be decoded here (a spool record another version wrote?): set them aside.
            if (!(error instanceof BatchDecodeError)) throw error;
            parts.shift();
            this.#corruptBatches++;
            this.#quarantineRaw(entry.seq, encodeBatch(part), errorMessage(error));
            break;
          }
          if (halves !== null) parts.splice(0, 1, ...halves);
          else {
            parts.shift();
            this.#quarantine(part, outcome.error);
          }
          break;
        }
        case 'failed':
          await this.#failed(outcome.error, outcome.timedOut);
          break;
        case 'interrupted':
          return false;
      }
    }
    return true;
  }

  async #attempt(batch: TelemetryBatch): Promise<Outcome> {
    let pending: Promise<void>;
    try {
      pending = this.#store.write(batch);
    } catch (error) {
      pending = Promise.reject(error);
    }
    try {
      // One interrupt promise per attempt (not one shared promise collecting a reaction per attempt).
      const interrupted = new Promise<void>((resolve) => {
        this.#interruptAttempt = resolve;
      });
      if (this.#stopping) this.#interruptAttempt?.();
      const result = await timeBox(pending, this.#flushTimeoutMs, this.#clock, interrupted);
      if (result.settled) return { kind: 'ok' };
      this.#store.abandon();
      if (result.reason === 'interrupted') return { kind: 'interrupted' };
      this.#timeouts++;
      return {
        kind: 'failed',
        error: `store write timed out after ${this.#flushTimeoutMs} ms`,
        timedOut: true,
      };
    } catch (error) {
      if (error instanceof BatchRejectedError) return { kind: 'rejected', error: error.message };
      return { kind: 'failed', error: errorMessage(error), timedOut: false };
    } finally {
      this.#interruptAttempt = null;
    }
  }

  async #failed(error: string, timedOut: boolean): Promise<void> {
    const now = this.#clock.now();
    this.#retries++;
    this.#consecutiveFailures++;
    this.#lastError = error;
    if (this.#outageSince === null) {
      this.#outageSince = now;
      this.#log.warn(
        { err: error, store: this.#store.kind },
        'telemetry store write failed: retrying with backoff',
      );
    }
    const outageMs = now - this.#outageSince;
    if (!this.#spilling && this.#spool !== null && outageMs >= this.#spillAfterMs) {
      this.#spilling = true;
      this.#seal();
      this.#spillQueued('outage');
      this.#log.warn(
        { outageMs, spoolRecords: this.#spool.records, spoolBytes: this.#spool.bytes },
        'telemetry store still down: spooling batches to disk',
      );
    }
    let delayMs = backoffDelay(this.#consecutiveFailures, this.#backoff, this.#random);
    if (!this.#spilling && this.#spool !== null) {
      // Wake up in time to start spooling when the outage reaches spillAfterMs.
      delayMs = Math.max(0, Math.min(delayMs, this.#spillAfterMs - outageMs));
    }
    this.#notify('retry', { attempt: this.#consecutiveFailures, delayMs, error, timedOut });
    await this.#delay.wait(delayMs);
  }

  #recovered(): void {
    if (this.#outageSince !== null) {
      this.#log.info(
        {
          outageMs: this.#clock.now() - this.#outageSince,
          retries: this.#consecutiveFailures,
          spoolRecords: this.#spool?.records ?? 0,
        },
        'telemetry store is back',
      );
    }
    this.#consecutiveFailures = 0;
    this.#outageSince = null;
    this.#spilling = false;
    this.#lastError = null;
  }

  #quarantine(batch: TelemetryBatch, error: string): void {
    const items = batchItemCount(batch);
    this.#quarantinedRows += items;
    this.#log.error(
      { err: error, rows: items, file: this.#quarantinePath },
      'telemetry row refused by the store',
    );
    if (this.#quarantinePath !== null) {
      try {
        appendFileSync(this.#quarantinePath, quarantineLine(batch, error, this.#clock.now()));
      } catch (appendError) {
        this.#log.error({ err: errorMessage(appendError) }, 'telemetry quarantine file not writable');
      }
    }
    this.#notify('quarantined', { rows: items, error });
  }

  #quarantineRaw(seq: number, data: Uint8Array, error: string): void {
    if (this.#quarantinePath === null) return;
    const line = JSON.stringify({
      time: new Date(this.#clock.now()).toISOString(),
      error,
      seq,
      spoolRecord: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
    });
    try {
      appendFileSync(this.#quarantinePath, `${line}\n`);
    } catch (appendError) {
      this.#log.error({ err: errorMessage(appendError) }, 'telemetry quarantine file not writable');
    }
  }

  #lagMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    if (this.#current !== null) oldest = this.#current.acceptedAt;
    if (this.#spool !== null && !this.#closed && !this.#spool.isEmpty && this.#current?.spooled !== true) {
      try {
        const head = this.#spool.peek();
        if (head !== null) oldest = Math.min(oldest, head.acceptedAt);
      } catch {
        // Stats never throw; the writer loop reports spool errors.
      }
    }
    const queued = this.#queue[0];
    if (queued !== undefined) oldest = Math.min(oldest, queued.acceptedAt);
    if (this.#openItems() > 0) oldest = Math.min(oldest, this.#open.acceptedAt);
    return oldest === Number.POSITIVE_INFINITY ? 0 : Math.max(0, this.#clock.now() - oldest);
  }

  #settleFlushes(): void {
    if (this.#flushWaiters.length === 0) return;
    const empty = this.#isEmpty();
    const remaining: FlushWaiter[] = [];
    for (const waiter of this.#flushWaiters) {
      if (empty || this.#ackedSeq >= waiter.target) {
        if (waiter.timer !== null) this.#clock.clearTimeout(waiter.timer);
        waiter.resolve();
      } else {
        remaining.push(waiter);
      }
    }
    this.#flushWaiters = remaining;
  }

  #settleIdle(): void {
    this.#settleFlushes();
    if (this.#isEmpty()) this.#notify('idle');
  }

  // --- closing -------------------------------------------------------------------------------------------------------

  async #close(): Promise<void> {
    this.#accepting = false;
    this.#seal();
    this.#wake();
    if (!this.#isEmpty()) {
      let deadline: unknown = null;
      await Promise.race([
        this.flush(),
        new Promise<void>((resolve) => {
          deadline = this.#clock.setTimeout(resolve, this.#closeTimeoutMs);
        }),
      ]);
      this.#clock.clearTimeout(deadline);
    }
    this.#stopping = true;
    this.#interruptAttempt?.();
    this.#delay.interrupt();
    this.#wake();
    await this.#loop;
    const memoryOnly = (): number =>
      (this.#current !== null && !this.#current.spooled ? this.#current.items : 0) + this.#queueItems();
    const pending = memoryOnly();
    if (pending > 0) {
      this.#spillQueued('close');
      const lost = memoryOnly();
      if (lost > 0) {
        this.#droppedRows += lost;
        this.#log.error(
          { rows: lost },
          'telemetry: pending rows lost at close (no spool, or the spool failed)',
        );
      }
      if (pending > lost) {
        this.#log.info(
          { rows: pending - lost, spoolRecords: this.#spool?.records },
          'telemetry: pending rows spooled',
        );
      }
    }
    for (const waiter of this.#flushWaiters.splice(0)) {
      if (waiter.timer !== null) this.#clock.clearTimeout(waiter.timer);
      waiter.reject(
        new FlushTimeoutError('telemetry pipeline closed before the rows were written (they are spooled)'),
      );
    }
    for (const resolve of this.#capacityWaiters.splice(0)) resolve();
    try {
      await this.#spool?.close();
    } finally {
      this.#closed = true;
      await this.#store.close();
    }
  }

  #queueItems(): number {
    let items = 0;
    for (const entry of this.#queue) items += entry.items;
    return items;
  }
}
