/**
 * The embedded history on a worker thread: the same store and reader as SqliteHistory, but each transaction and
 * query runs in sqlite-worker.ts, off the broker's event loop (measured in the main thread: ~7–10 µs of blocking
 * per row inserted). The main thread only encodes the batch (the spool's columnar form, ~1–2 µs per row) and
 * transfers it.
 *
 * A worker that dies (or is terminated by `abandon()` when the pipeline's time-box gives up on a write) fails the
 * pending calls with a retriable error and is started again on the next call; SQLite rolls back the transaction
 * it was in, and the re-sent batch is idempotent (INSERT OR REPLACE on the DEDUP-like keys).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { storageThreadPriority } from '../../codecs/index.js';
import { encodeBatchForTransfer } from './batch-codec.js';
import type {
  AggregateBucket,
  HistoryReader,
  HistoryResult,
  MessageQuery,
  PayloadMessage,
  SenMLMessage,
} from './query.js';
import type { RetentionOptions, RetentionResult } from './sqlite-history.js';
import type { SqliteWorkerData, SqliteWorkerReply, SqliteWorkerRequest } from './sqlite-worker.js';
import {
  BatchRejectedError,
  silentTelemetryLogger,
  type TelemetryBatch,
  type TelemetryLogger,
  type TelemetryStore,
} from './types.js';

export interface WorkerSqliteHistoryOptions {
  path: string;
  retention?: RetentionOptions;
  synchronous?: 'NORMAL' | 'FULL';
  /** Niceness of the worker thread below the broker's (Linux; default 19, 0 = the same): forwarding comes first. */
  niceness?: number;
  /** Linux: run the worker thread under SCHED_IDLE as well (default true; codecs/thread-priority.ts). */
  schedIdle?: boolean;
  logger?: TelemetryLogger;
}

/** Distributes Omit over the request union (a plain Omit would merge its members). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * Starts sqlite-worker: the compiled `.js` directly; from source (vitest, tsx) the `.ts` file through a bootstrap
 * that registers tsx inside the worker first (on Node 20 tsx's `--import` loader does not register itself in worker
 * threads).
 */
function startWorker(workerData: SqliteWorkerData): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./sqlite-worker.js', here), { workerData });
  const entry = new URL('./sqlite-worker.ts', here).href;
  const tsxPackage = createRequire(here).resolve('tsx/package.json');
  const tsxApi = pathToFileURL(join(dirname(tsxPackage), 'dist/esm/api/index.mjs')).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  // The parent's own tsx flags are left out: the bootstrap registers tsx once, whatever the Node version does.
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const arg = process.execArgv[i]!;
    const next = process.execArgv[i + 1] ?? '';
    if ((arg === '--import' || arg === '--require') && next.includes('tsx')) i++;
    else if (!arg.includes('tsx')) execArgv.push(arg);
  }
  try {
    return new Worker(bootstrap, { eval: true, workerData, execArgv });
  } catch (error) {
    // Some process-wide flags (e.g. --expose-gc) are refused by workers when given explicitly.
    if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    return new Worker(bootstrap, { eval: true, workerData, execArgv: [] });
  }
}

function rebuildError(error: { name: string; message: string; code?: string }): Error {
  // Bytes the worker cannot decode will not decode on a retry either: a data error, like a refused row.
  if (error.name === 'BatchRejectedError' || error.name === 'BatchDecodeError')
    return new BatchRejectedError(error.message);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.code !== undefined) (rebuilt as Error & { code: string }).code = error.code;
  return rebuilt;
}

export class WorkerSqliteHistory implements TelemetryStore, HistoryReader {
  readonly kind = 'sqlite';
  /** Batches go to the worker thread as bytes: spooled records are passed on as they are. */
  readonly takesEncoded = true;
  readonly #data: SqliteWorkerData;
  readonly #log: TelemetryLogger;
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(options: WorkerSqliteHistoryOptions) {
    this.#data = {
      path: options.path,
      retention: options.retention,
      synchronous: options.synchronous,
      priority: storageThreadPriority(options),
    };
    this.#log = options.logger ?? silentTelemetryLogger;
    this.#start();
  }

  write(batch: TelemetryBatch): Promise<void> {
    const data = encodeBatchForTransfer(batch);
    return this.#call({ op: 'write', data }, [data.buffer]) as Promise<void>;
  }

  /** The pipeline gave up on a write: a stuck worker is terminated (its transaction rolls back) and restarted. */
  abandon(): void {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    this.#failAll(new Error('telemetry SQLite worker abandoned (time-box)'));
    void worker.terminate();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker === null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    await this.#call({ op: 'close' }, [], true).catch(() => undefined);
    await exited;
  }

  readSenML(channel: string, query: MessageQuery): Promise<HistoryResult<SenMLMessage>> {
    return this.#call({ op: 'readSenML', channel, query }) as Promise<HistoryResult<SenMLMessage>>;
  }

  readPayloads(channel: string, query: MessageQuery): Promise<HistoryResult<PayloadMessage>> {
    return this.#call({ op: 'readPayloads', channel, query }) as Promise<HistoryResult<PayloadMessage>>;
  }

  aggregate(channel: string, query: MessageQuery): Promise<HistoryResult<AggregateBucket>> {
    return this.#call({ op: 'aggregate', channel, query }) as Promise<HistoryResult<AggregateBucket>>;
  }

  enforceRetention(): Promise<RetentionResult> {
    return this.#call({ op: 'retention' }) as Promise<RetentionResult>;
  }

  counts(): Promise<Record<'senml' | 'messages' | 'dead_letter', number>> {
    return this.#call({ op: 'counts' }) as Promise<Record<'senml' | 'messages' | 'dead_letter', number>>;
  }

  #start(): Worker {
    const worker = startWorker(this.#data);
    worker.unref(); // referenced only while calls are pending (see #call)
    worker.on('message', (message: SqliteWorkerReply) => {
      if (message.type === 'log') {
        this.#log[message.level](message.obj, message.msg);
        return;
      }
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      if (this.#pending.size === 0) worker.unref();
      if (message.ok) pending.resolve(message.value);
      else pending.reject(rebuildError(message.error));
    });
    worker.on('error', (error) => {
      this.#log.error({ err: error.message }, 'telemetry SQLite worker failed');
    });
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#failAll(new Error(`telemetry SQLite worker exited (code ${code})`));
    });
    this.#worker = worker;
    return worker;
  }

  #failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }

  #call(
    request: WithoutId<SqliteWorkerRequest>,
    transfer: ArrayBuffer[] = [],
    closing = false,
  ): Promise<unknown> {
    if (this.#closed && !closing) return Promise.reject(new Error('telemetry history is closed'));
    const worker = this.#worker ?? this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...request, id } as SqliteWorkerRequest, transfer);
    });
  }
}
