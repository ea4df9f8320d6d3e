/**
 * CodecPool: the storage path's SenML resolution on worker threads (piscina).
 *
 * `pushMessage(source, contentType, created, payload)` (and `push(envelope)`) is called on the broker's hot path: it
 * is synchronous, never blocks and never calls back into the caller. Messages are packed into the open batch (one
 * ArrayBuffer, payload copied, repeated strings interned: message-batch.ts); a worker resolves SenML into rows and
 * turns other content types into whole-message rows. A batch is sealed when it holds `batchSize` messages or
 * `maxBatchBytes` bytes, or `flushIntervalMs` after its first message.
 *
 * Output: with `onEncoded`, each batch comes back as one row batch in bytes (codecs/row-batch.ts) that the main
 * thread hands on without building an object per row — what the broker uses (bench/storage/tap.ts measured the
 * object path at ~0.5 µs of event-loop time per message). With `onRows`, as row objects.
 *
 * Flow control (storage path only; `push` never waits):
 * - at most `maxQueue` sealed batches are *in flight* (queued at or running in a worker, or waiting for / inside the
 *   `onRows` sink: an async sink that is slow keeps its batch in flight, which is the backpressure);
 * - a batch sealed while `maxQueue` batches are in flight waits in a FIFO of at most `maxPending` batches;
 * - a batch sealed while that FIFO is full is dropped: its messages are counted in `droppedOverload` (and the batch
 *   in `droppedBatches`); and while both are full, `push` drops a message at once (counted in `droppedOverload`),
 *   before copying it: under sustained overload shedding costs the broker's event loop next to nothing.
 *   Nothing else is ever dropped silently.
 * Results are delivered to `onRows` in batch order, one call at a time. Invalid SenML comes back as `invalid`
 * entries (whole envelope + error) for a dead-letter table.
 */
import { availableParallelism } from 'node:os';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BatchResult, BatchTask, RowTransport } from './batch.js';
import { assertEnvelope, type Envelope } from './envelope.js';
import { MessageBatchWriter, MessageSource, type PackedMessages } from './message-batch.js';
import type { EncodedRows } from './row-batch.js';
import { type InvalidMessage, type Row, readRowColumns } from './rows.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS } from './senml.js';
import { SenMLError } from './senml-error.js';
import { storageThreadPriority } from './thread-priority.js';
import { workerModule } from './worker-module.js';

/** Receives the rows of one batch. May return a promise: the batch stays in flight until it settles. */
export type RowSink = (rows: Row[], invalid: InvalidMessage[]) => void | Promise<void>;

/** Receives the rows of one batch in byte form. May return a promise: the batch stays in flight until it settles. */
export type EncodedSink = (part: EncodedRows) => void | Promise<void>;

export interface CodecPoolOptions {
  /**
   * The consumer of rows as objects. Called in batch order, never concurrently. Exactly one of `onRows` and
   * `onEncoded` must be given.
   */
  onRows?: RowSink;
  /** The consumer of rows in byte form (e.g. the telemetry pipeline's `writeEncoded`). Same contract as `onRows`. */
  onEncoded?: EncodedSink;
  /** Worker failures, sink exceptions/rejections. Default: ignored (they are counted either way). */
  onError?: (error: Error) => void;
  /** Worker threads. Default: `os.availableParallelism()`. */
  threads?: number;
  /** Threads kept alive while idle. Default: `threads`. */
  minThreads?: number;
  /** How long a thread above `minThreads` may idle before it exits. Default 60 000. */
  idleTimeoutMs?: number;
  /** Messages per batch. Default 256. */
  batchSize?: number;
  /** Bytes per packed batch before it is sealed early. Default 4 MiB. */
  maxBatchBytes?: number;
  /** Longest time a message waits in the open batch. Default 20 ms. */
  flushIntervalMs?: number;
  /** Batches in flight (at workers or the sink). Default `4 × threads`. */
  maxQueue?: number;
  /** Sealed batches waiting while `maxQueue` is reached; beyond this, batches are dropped. Default 64. */
  maxPending?: number;
  /** Batches handed to one worker at a time (the rest wait in the pool). Default 2. */
  tasksPerThread?: number;
  /** Piscina atomics mode. Default 'disabled' (measured faster here for batch-sized tasks, see bench/codecs). */
  atomics?: 'sync' | 'async' | 'disabled';
  /** How rows come back from workers with `onRows`: 'columns' (default, measured faster) or 'objects'. */
  transport?: Exclude<RowTransport, 'encoded'>;
  /** V8 heap limits of each worker thread (Node `ResourceLimits`). Default: Node's. */
  resourceLimits?: ResourceLimits;
  /**
   * How much lower the worker threads' scheduling priority is than the broker's (Linux `nice`, 0–19; 0 = same).
   * Default 19 (the lowest): under CPU pressure forwarding keeps its CPU and the pool sheds instead (see thread-priority.ts).
   */
  niceness?: number;
  /**
   * Linux: the worker threads also switch to SCHED_IDLE, so they run only when the I/O thread leaves the CPU idle
   * and it preempts them at once when it wakes up. Default true (needs util-linux `chrt`; without it, the niceness
   * alone). See thread-priority.ts for the measurement behind it.
   */
  schedIdle?: boolean;
  /** Largest SenML payload accepted (bytes); larger ones are invalid with code 'too-large'. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Largest number of records in one pack. Default 10 000. */
  maxRecords?: number;
}

export interface CodecPoolStats {
  /** Messages accepted by `push`. */
  accepted: number;
  /** Batches sealed and sent on (to a worker, or straight to the sink when they hold no SenML). */
  batches: number;
  /** Rows delivered to the sink (SenML rows + whole-message rows). */
  rows: number;
  /** Invalid entries delivered to the sink. */
  invalid: number;
  /** Messages whose batch was delivered (their rows or invalid entries reached the sink). */
  delivered: number;
  /** Messages dropped because `maxQueue` and `maxPending` were both full. */
  droppedOverload: number;
  /** Batches dropped for the same reason. */
  droppedBatches: number;
  /** SenML messages lost because their worker task failed (worker crash; reported to `onError`). */
  failed: number;
  /** Sink calls that threw or rejected (reported to `onError`; the batch counts as delivered). */
  sinkErrors: number;
  /** `push` calls refused because the pool is closing or closed. */
  rejectedClosed: number;
  /** Messages in the open (not yet sealed) batch. */
  open: number;
  /** Sealed batches waiting for a slot. */
  pending: number;
  /** Batches in flight. */
  inFlight: number;
  /** Live worker threads. */
  threads: number;
}

interface SealedBatch {
  packed: PackedMessages;
  /** All messages of the batch. */
  count: number;
}

interface Completed {
  batch: SealedBatch;
  result: BatchResult | null;
  error: Error | null;
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`CodecPool option ${name} must be an integer ≥ 1`);
  return value;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function isPromiseLike(value: unknown): value is PromiseLike<void> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<void>).then === 'function'
  );
}

export class CodecPool {
  readonly #piscina: Piscina<BatchTask, BatchResult>;
  readonly #onRows: RowSink | null;
  readonly #onEncoded: EncodedSink | null;
  readonly #onError: (error: Error) => void;
  readonly #batchSize: number;
  readonly #maxBatchBytes: number;
  readonly #flushIntervalMs: number;
  readonly #maxQueue: number;
  readonly #maxPending: number;
  readonly #transport: RowTransport;
  readonly #maxPayloadBytes: number;
  readonly #maxRecords: number;

  readonly #writer: MessageBatchWriter;
  /** Column buffers returned by workers, read, and ready to be lent to the next task (saves an allocation each). */
  readonly #spareColumns: ArrayBuffer[] = [];
  #openCount = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #pending: SealedBatch[] = [];
  #inFlight = 0;
  #nextSeq = 0;
  #deliverSeq = 0;
  readonly #done = new Map<number, Completed>();
  #delivering = false;
  #idleWaiters: Array<() => void> = [];
  #capacityWaiters: Array<() => void> = [];
  #closed = false;
  #closing: Promise<void> | null = null;

  #accepted = 0;
  #batches = 0;
  #rows = 0;
  #invalid = 0;
  #delivered = 0;
  #droppedOverload = 0;
  #droppedBatches = 0;
  #failed = 0;
  #sinkErrors = 0;
  #rejectedClosed = 0;

  constructor(options: CodecPoolOptions) {
    const threads = positiveInt(options.threads, availableParallelism(), 'threads');
    const minThreads = Math.min(threads, positiveInt(options.minThreads, threads, 'minThreads'));
    if ((options.onRows === undefined) === (options.onEncoded === undefined))
      throw new TypeError('CodecPool needs exactly one of onRows and onEncoded');
    this.#onRows = options.onRows ?? null;
    this.#onEncoded = options.onEncoded ?? null;
    this.#onError = options.onError ?? (() => {});
    this.#batchSize = positiveInt(options.batchSize, 256, 'batchSize');
    this.#maxBatchBytes = positiveInt(options.maxBatchBytes, 4 * 1024 * 1024, 'maxBatchBytes');
    this.#flushIntervalMs = positiveInt(options.flushIntervalMs, 20, 'flushIntervalMs');
    this.#maxQueue = positiveInt(options.maxQueue, 4 * threads, 'maxQueue');
    this.#maxPending = options.maxPending === 0 ? 0 : positiveInt(options.maxPending, 64, 'maxPending');
    this.#transport = this.#onEncoded !== null ? 'encoded' : (options.transport ?? 'columns');
    this.#maxPayloadBytes = positiveInt(options.maxPayloadBytes, DEFAULT_MAX_BYTES, 'maxPayloadBytes');
    this.#maxRecords = positiveInt(options.maxRecords, DEFAULT_MAX_RECORDS, 'maxRecords');
    this.#writer = new MessageBatchWriter(Math.min(this.#maxBatchBytes, this.#batchSize * 256));
    const spec = workerModule(import.meta.url, 'worker');
    this.#piscina = new Piscina<BatchTask, BatchResult>({
      filename: spec.filename,
      execArgv: spec.execArgv,
      name: 'default',
      minThreads,
      maxThreads: threads,
      idleTimeout: options.idleTimeoutMs ?? 60_000,
      atomics: options.atomics ?? 'disabled',
      resourceLimits: options.resourceLimits,
      workerData: { priority: storageThreadPriority(options) },
      // Two tasks per worker: the next batch already waits in the worker's port when it finishes one, instead of
      // after a round trip through the (possibly busy) main thread. Measured: workers idled ~20% with 1.
      concurrentTasksPerWorker: positiveInt(options.tasksPerThread, 2, 'tasksPerThread'),
    });
    // Worker errors outside a task would otherwise be an unhandled 'error' event.
    this.#piscina.on('error', (error: unknown) => this.#report(error));
  }

  /**
   * Queues one message for the storage path. Synchronous and cheap; copies the payload (the caller may reuse its
   * buffer on return). Returns false (and counts `rejectedClosed`) once `close()` has been called.
   * @throws {TypeError} when `payload` is not a Uint8Array (a programming error).
   */
  push(envelope: Envelope): boolean {
    assertEnvelope(envelope);
    const { channel, subtopic, publisher, protocol, contentType, created, payload } = envelope;
    return this.pushMessage(
      new MessageSource(channel, subtopic, publisher, protocol),
      contentType,
      created,
      payload,
    );
  }

  /**
   * The hot-path form of {@link push}: `source` is made once per (topic, publisher) by the caller and reused, so the
   * strings it holds travel once per batch. Copies the payload.
   */
  pushMessage(source: MessageSource, contentType: string, created: number, payload: Uint8Array): boolean {
    if (this.#closed) {
      this.#rejectedClosed++;
      return false;
    }
    if (this.#pending.length >= this.#maxPending && this.#inFlight >= this.#maxQueue) {
      this.#accepted++;
      this.#droppedOverload++;
      return true;
    }
    this.#writer.add(source, contentType, created, payload);
    this.#accepted++;
    if (++this.#openCount === 1) {
      this.#timer = setTimeout(this.#onTimer, this.#flushIntervalMs);
      this.#timer.unref();
    }
    if (this.#openCount >= this.#batchSize || this.#writer.byteLength >= this.#maxBatchBytes) this.#seal();
    return true;
  }

  /** Seals the open batch now (if it holds anything). */
  flush(): void {
    this.#seal();
  }

  /** Resolves when no batch is pending or in flight (the open batch is not waited for: see {@link drain}). */
  whenIdle(): Promise<void> {
    if (this.#inFlight === 0 && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * True while `maxQueue` batches are in flight (or batches wait): a batch sealed now would wait or be dropped.
   * For producers that can pause (a spool replay, a benchmark); the broker's hot path just pushes.
   */
  get saturated(): boolean {
    return this.#inFlight >= this.#maxQueue || this.#pending.length > 0;
  }

  /** Resolves when the pool is no longer {@link saturated}. */
  whenUnsaturated(): Promise<void> {
    if (!this.saturated) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  /** Seals the open batch and resolves once everything accepted so far has been delivered (or counted lost). */
  drain(): Promise<void> {
    this.#seal();
    return this.whenIdle();
  }

  /**
   * Stops accepting, delivers everything accepted, then stops the worker threads. Resolves when all threads have
   * exited. Idempotent. (Waits for the sink: a sink that never settles keeps `close` from resolving; use `destroy`.)
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      this.#closing = this.drain().then(() => this.#piscina.close());
    }
    return this.#closing;
  }

  /**
   * Stops at once: the open and pending batches are dropped (counted in `droppedOverload`), running tasks are
   * aborted (counted in `failed`), threads are terminated.
   */
  async destroy(): Promise<void> {
    this.#closed = true;
    this.#clearTimer();
    if (this.#openCount > 0) this.#drop({ packed: this.#writer.finish(), count: this.#openCount });
    this.#openCount = 0;
    for (const batch of this.#pending.splice(0)) this.#drop(batch);
    await this.#piscina.destroy();
    if (this.#closing === null) this.#closing = Promise.resolve();
    this.#checkIdle();
  }

  get stats(): CodecPoolStats {
    return {
      accepted: this.#accepted,
      batches: this.#batches,
      rows: this.#rows,
      invalid: this.#invalid,
      delivered: this.#delivered,
      droppedOverload: this.#droppedOverload,
      droppedBatches: this.#droppedBatches,
      failed: this.#failed,
      sinkErrors: this.#sinkErrors,
      rejectedClosed: this.#rejectedClosed,
      open: this.#openCount,
      pending: this.#pending.length,
      inFlight: this.#inFlight,
      threads: this.#piscina.threads.length,
    };
  }

  /** The worker threads (diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.#piscina.threads;
  }

  // --- internals ---------------------------------------------------------------------------------------------------

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#seal();
  };

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #seal(): void {
    if (this.#openCount === 0) return;
    this.#clearTimer();
    const batch: SealedBatch = { packed: this.#writer.finish(), count: this.#openCount };
    this.#openCount = 0;
    if (this.#inFlight < this.#maxQueue && this.#pending.length === 0) this.#dispatch(batch);
    else if (this.#pending.length < this.#maxPending) this.#pending.push(batch);
    else this.#drop(batch);
  }

  #drop(batch: SealedBatch): void {
    if (batch.count === 0) return;
    this.#droppedOverload += batch.count;
    this.#droppedBatches++;
  }

  #dispatch(batch: SealedBatch): void {
    const seq = this.#nextSeq++;
    this.#inFlight++;
    this.#batches++;
    const packed = batch.packed;
    const spare = this.#transport === 'columns' ? (this.#spareColumns.pop() ?? null) : null;
    const task: BatchTask = {
      ...packed,
      transport: this.#transport,
      maxBytes: this.#maxPayloadBytes,
      maxRecords: this.#maxRecords,
      spare,
    };
    const transferList = spare === null ? [packed.buffer] : [packed.buffer, spare];
    this.#piscina.run(task, { transferList }).then(
      (result) => this.#complete(seq, { batch, result, error: null }),
      (error: unknown) => this.#complete(seq, { batch, result: null, error: toError(error) }),
    );
  }

  #complete(seq: number, completed: Completed): void {
    this.#done.set(seq, completed);
    if (!this.#delivering) void this.#deliver();
  }

  async #deliver(): Promise<void> {
    this.#delivering = true;
    try {
      for (;;) {
        const completed = this.#done.get(this.#deliverSeq);
        if (completed === undefined) break;
        this.#done.delete(this.#deliverSeq);
        this.#deliverSeq++;
        try {
          await this.#deliverOne(completed);
        } catch (error) {
          // not reachable by design (the sink's own failures are handled inside); never an unhandled rejection
          this.#report(error);
        }
        this.#inFlight--;
        while (this.#inFlight < this.#maxQueue && this.#pending.length > 0)
          this.#dispatch(this.#pending.shift()!);
        this.#checkCapacity();
      }
    } finally {
      this.#delivering = false;
    }
    this.#checkIdle();
  }

  async #deliverOne({ batch, result, error }: Completed): Promise<void> {
    if (error !== null || result === null) {
      this.#failed += batch.count;
      this.#report(error ?? new Error('worker returned no result'));
      return;
    }
    for (const buffer of result.recycled) this.#writer.recycle(buffer);
    this.#delivered += batch.count;
    const encoded = result.encoded;
    if (encoded !== null) {
      this.#rows += encoded.rows;
      this.#invalid += encoded.invalid;
      if (encoded.rows + encoded.invalid === 0 || this.#onEncoded === null) return;
      await this.#sink(() => this.#onEncoded!(encoded));
      return;
    }
    const rows: Row[] = [];
    const invalid: InvalidMessage[] = [];
    if (result.columns !== null) {
      readRowColumns(result.columns, rows);
      // the rows hold no reference into the column buffer: it can carry the next batch's rows
      if (this.#spareColumns.length < this.#maxQueue) this.#spareColumns.push(result.columns.buffer);
    }
    if (result.rows !== null) for (const row of result.rows) rows.push(row);
    for (const row of result.messageRows) rows.push(row);
    for (const entry of result.invalid) {
      invalid.push({ envelope: entry.envelope, error: SenMLError.fromJSON(entry.error) });
    }
    this.#rows += rows.length;
    this.#invalid += invalid.length;
    if ((rows.length === 0 && invalid.length === 0) || this.#onRows === null) return;
    await this.#sink(() => this.#onRows!(rows, invalid));
  }

  /** Calls the sink; its exceptions and rejections are counted and reported, never thrown. */
  async #sink(call: () => void | Promise<void>): Promise<void> {
    try {
      const pending = call();
      if (isPromiseLike(pending)) await pending;
    } catch (sinkError) {
      this.#sinkErrors++;
      this.#report(sinkError);
    }
  }

  /** Hands an error to `onError`; an `onError` that throws itself is ignored (it must not take the broker down). */
  #report(error: unknown): void {
    try {
      this.#onError(toError(error));
    } catch {
      // ignored on purpose
    }
  }

  #checkCapacity(): void {
    if (this.#capacityWaiters.length === 0 || this.saturated) return;
    const waiters = this.#capacityWaiters;
    this.#capacityWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #checkIdle(): void {
    this.#checkCapacity();
    if (this.#inFlight !== 0 || this.#pending.length !== 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
