/**
 * The contracts of the telemetry storage path: what the broker hands in (rows of the codec pool), what a store must
 * do with a batch, and what the pipeline reports for metrics.
 */
import type { EncodedRows, InvalidMessage, Row } from '../../codecs/index.js';

/** Rows of one write unit: one transaction (SQLite) or one `/write` request (QuestDB). Never mutated once sealed. */
export interface TelemetryBatch {
  readonly rows: readonly Row[];
  readonly invalid: readonly InvalidMessage[];
  /**
   * More rows and invalid messages, still in byte form (as the codec workers made them). Stores that work on row
   * objects call `materialize` (batch-codec.ts) first; the embedded history's worker receives the bytes as they are.
   */
  readonly parts?: readonly EncodedRows[];
}

/**
 * The storage path's entry point, in front of either store (QuestDB or the embedded SQLite history).
 *
 * `write` accepts synchronously: the rows are ours from then on (in memory, then the store, or the disk spool).
 * It returns a promise only as a backpressure signal (memory over its bound and the spool unable to take more):
 * the rows of that call are accepted all the same; a caller that can wait (the codec pool) waits before the next
 * call. Rows that arrive while even the hard memory bound is exceeded are dropped and counted (`droppedRows`).
 */
export interface TelemetrySink {
  write(rows: readonly Row[], invalid?: readonly InvalidMessage[]): undefined | Promise<void>;
  /** Like `write`, for rows already in byte form (the codec pool's `onEncoded`): the bytes are kept as they are. */
  writeEncoded(part: EncodedRows): undefined | Promise<void>;
  /**
   * Resolves once every row accepted before the call is in the store. During an outage that can take long: give
   * `timeoutMs` to bound the wait (the promise then rejects with a {@link FlushTimeoutError}; nothing is lost).
   */
  flush(timeoutMs?: number): Promise<void>;
  /**
   * Stops accepting, writes what it can within `closeTimeoutMs`, spools the rest to disk (replayed by the next
   * instance over the same spool folder), closes the store. Idempotent.
   */
  close(): Promise<void>;
  stats(): TelemetryStats;
}

export type StoreKind = 'questdb' | 'sqlite';

/** Counters and gauges for metrics. Counters only grow during the life of one pipeline instance. */
export interface TelemetryStats {
  store: StoreKind;
  /** 'ok' | 'retrying' (last write failed) | 'spooling' (outage longer than `spillAfterMs`: new batches go to disk). */
  state: 'ok' | 'retrying' | 'spooling' | 'closed';
  /** Rows (SenML + whole messages) accepted by `write`. */
  acceptedRows: number;
  /** Invalid messages accepted by `write` (for the dead-letter table). */
  acceptedInvalid: number;
  /** Rows acknowledged by the store. */
  writtenRows: number;
  /** Invalid messages acknowledged by the store's dead-letter table. */
  deadLettered: number;
  /** Batches acknowledged by the store. */
  writtenBatches: number;
  /** Age (ms) of the oldest accepted row not yet in the store (0 when nothing is pending): the storage lag. */
  lagMs: number;
  /** Rows and bytes (estimate) held in memory: open batch, queued batches and the batch being written. */
  memoryRows: number;
  memoryBytes: number;
  /** Records, rows and bytes waiting in the disk spool. */
  spoolRecords: number;
  spoolRows: number;
  spoolBytes: number;
  /** Batches appended to the spool, and spool records written to the store (replayed). */
  spilledBatches: number;
  replayedBatches: number;
  /** Failed write attempts that will be retried (errors and time-outs). */
  retries: number;
  /** Write attempts abandoned by the flush time-box. */
  timeouts: number;
  /** Batches the store refused as data errors (QuestDB 400); they are split to isolate the offending rows. */
  rejectedBatches: number;
  /** Rows (and invalid messages) refused on their own: kept in the quarantine file, never retried. */
  quarantinedRows: number;
  /** Rows dropped because memory was past its hard bound and the spool could not take them. */
  droppedRows: number;
  /** `write` calls after `close()` (their rows are not stored). */
  rejectedClosed: number;
  /** Spool records found corrupt (CRC or framing) and skipped, and torn tail bytes truncated at open. */
  corruptRecords: number;
  truncatedBytes: number;
  /** The last store error, for logs and health checks (null after a success). */
  lastError: string | null;
}

/**
 * A database behind the pipeline. `write` stores one batch as one unit; the pipeline calls it one at a time,
 * re-sends the very same batch after a failure, and relies on the store being idempotent for a re-sent batch
 * (QuestDB DEDUP UPSERT KEYS, SQLite INSERT OR REPLACE on the same key).
 */
export interface TelemetryStore {
  readonly kind: StoreKind;
  /**
   * The store sends batches on as bytes (`encodeBatch`), e.g. to a worker thread: the pipeline then hands it spool
   * records as encoded parts instead of decoded rows.
   */
  readonly takesEncoded?: boolean;
  /**
   * Resolves once the batch is durable in the store. Rejects with {@link BatchRejectedError} when the data itself
   * is refused (re-sending it unchanged would fail again); any other rejection is treated as retriable.
   */
  write(batch: TelemetryBatch): Promise<void>;
  /**
   * The pipeline gave up waiting for the pending `write` (time-box). Cancel what can be cancelled so that the
   * abandoned request cannot linger; the pipeline re-sends the batch next.
   */
  abandon(): void;
  close(): Promise<void>;
}

/** The store refused the data of a batch (not the connection): re-sending it unchanged would fail again. */
export class BatchRejectedError extends Error {
  override readonly name = 'BatchRejectedError';
}

/** `flush(timeoutMs)` ran out of time; the rows are still pending (nothing is lost). */
export class FlushTimeoutError extends Error {
  override readonly name = 'FlushTimeoutError';
}

/** The logging surface of the storage path; a pino logger satisfies it. */
export interface TelemetryLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentTelemetryLogger: TelemetryLogger = { debug: noop, info: noop, warn: noop, error: noop };

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
