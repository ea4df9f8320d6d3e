/**
 * The QuestDB store: one batch = one ILP-over-HTTP request (`POST /write`, one transaction per table), sent by
 * `@questdb/nodejs-client`'s stdlib HTTP transport. Lines are encoded by ilp-encoder.ts (protocol 1: our text
 * encoder, byte-identical to the client's buffer but 4–10× faster; other versions: the client's buffer). The writer
 * adds what the client lacks (see shared/reference/questdb.md §5–6):
 *
 * - the batch stays in the pipeline until `write` resolves (a failed send has already emptied the client buffer,
 *   so the bytes are rebuilt from the same rows for every attempt: identical lines, identical DEDUP keys);
 * - every transport generation has its own `http.Agent`; `abandon()` (the pipeline's time-box fired) destroys it,
 *   which cancels the pending request on our side. If QuestDB had already received it, it may still commit; the
 *   re-sent batch then upserts the same rows (DEDUP) — the only effect is a redundant write of equal values;
 * - tables are created (with DEDUP) through `/exec` before the first row, since ILP auto-creation has no DEDUP;
 * - HTTP 400 (a data error: the whole request is refused) and 413 become {@link BatchRejectedError}, which the
 *   pipeline answers by splitting the batch; everything else is retried.
 *
 * Residual risk, documented: an abandoned request that QuestDB commits *after* a newer batch wrote the same key
 * with a different value would win (last write wins). That needs a device to send two different values for the
 * same (time, channel, publisher, name, subtopic) within one time-out window.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { createTransport, SenderOptions, type SenderTransport } from '@questdb/nodejs-client';
import { Piscina } from 'piscina';
import { storageThreadPriority, type ThreadPriority } from '../../codecs/thread-priority.js';
import { workerModule } from '../../codecs/worker-module.js';
import { encodeBatchForTransfer, materialize } from './batch-codec.js';
import { ilpWriterFor, writeBatchLines } from './ilp-encoder.js';
import type { IlpResult, IlpTask } from './ilp-worker.js';
import {
  parseQuestDBConfig,
  type QuestDBConfig,
  redactQuestDBConfig,
  senderOptionsFor,
} from './questdb-config.js';
import { QuestDBHttp } from './questdb-http.js';
import {
  checkTableNames,
  DEFAULT_QUESTDB_TABLES,
  type QuestDBTables,
  schemaStatements,
} from './questdb-schema.js';
import {
  BatchRejectedError,
  errorMessage,
  silentTelemetryLogger,
  type TelemetryBatch,
  type TelemetryLogger,
  type TelemetryStore,
} from './types.js';

export interface QuestDBWriterOptions {
  /** The configuration string, e.g. `http::addr=localhost:9000` (see questdb-config.ts for what is imposed). */
  config: string;
  tables?: Partial<QuestDBTables>;
  /** Create the tables through /exec before the first write. Default true. */
  createTables?: boolean;
  /** Time-out of /exec calls (table creation). Default 10 000 ms. */
  execTimeoutMs?: number;
  /**
   * Decode batches and write their ILP lines on a worker thread (ilp-worker.ts) instead of the event loop, where
   * they cost ~2 µs per row. Default true.
   */
  encodeInWorker?: boolean;
  /** Niceness of that thread below the broker's (Linux; default 19): forwarding comes first. */
  niceness?: number;
  /** Linux: run that thread under SCHED_IDLE as well (default true; codecs/thread-priority.ts). */
  schedIdle?: boolean;
  logger?: TelemetryLogger;
}

/** Rows encoded between two yields to the event loop (~2–5 ms of work). */
const ENCODE_SLICE = 1000;

/** The status code in the client's error text: "HTTP request failed, statusCode=400, error=…". */
function statusOf(error: unknown): number | null {
  const match = /statusCode=(\d{3})/.exec(errorMessage(error));
  return match === null ? null : Number(match[1]);
}

export class QuestDBWriter implements TelemetryStore {
  readonly kind = 'questdb';
  readonly config: QuestDBConfig;
  readonly tables: QuestDBTables;
  readonly #http: QuestDBHttp;
  readonly #createTables: boolean;
  readonly #log: TelemetryLogger;
  #options: SenderOptions | null = null;
  #generation = 0;
  #agent: http.Agent | null = null;
  #transport: SenderTransport | null = null;
  #schemaReady = false;
  #closed = false;
  readonly #encodeInWorker: boolean;
  readonly #priority: ThreadPriority;
  #encoder: Piscina<IlpTask, IlpResult> | null = null;
  /** Batches encoded on the worker thread (diagnostics and tests). */
  encodedOffThread = 0;

  /** @throws {QuestDBConfigError} for an invalid configuration string (checked at once, no network). */
  constructor(options: QuestDBWriterOptions) {
    this.config = parseQuestDBConfig(options.config);
    this.tables = checkTableNames({ ...DEFAULT_QUESTDB_TABLES, ...options.tables });
    this.#http = new QuestDBHttp(this.config, options.execTimeoutMs ?? 10_000);
    this.#createTables = options.createTables ?? true;
    this.#log = options.logger ?? silentTelemetryLogger;
    this.#encodeInWorker = options.encodeInWorker ?? true;
    this.#priority = storageThreadPriority(options);
  }

  /** With the encoder thread, batches go to it as bytes: the pipeline hands spooled records over undecoded. */
  get takesEncoded(): boolean {
    return this.#encodeInWorker;
  }

  /** The configuration with secrets hidden, for logs. */
  get description(): string {
    return redactQuestDBConfig(this.config.source);
  }

  /** The /exec client on the same connection settings (the reader uses it too). */
  get sql(): QuestDBHttp {
    return this.#http;
  }

  async write(batch: TelemetryBatch): Promise<void> {
    if (this.#closed) throw new Error('QuestDB writer is closed');
    const generation = this.#generation;
    await this.#ensureTables();
    const options = await this.#senderOptions();
    const data = this.#encodeInWorker
      ? await this.#encodeOffThread(batch, options, generation)
      : await this.#encode(materialize(batch), options, generation);
    this.#checkGeneration(generation);
    if (data === null) return;
    const transport = this.#transportFor(options);
    try {
      await transport.send(data);
    } catch (error) {
      const status = statusOf(error);
      if (status === 400 || status === 413) throw new BatchRejectedError(errorMessage(error));
      throw error;
    }
  }

  abandon(): void {
    // A write still encoding stops at its next slice; one sending loses its socket: destroying the Agent fails the
    // pending request on our side instead of letting it linger.
    this.#generation++;
    this.#agent?.destroy();
    this.#agent = null;
    this.#transport = null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.abandon();
    this.#http.close();
    const encoder = this.#encoder;
    this.#encoder = null;
    await encoder?.destroy();
  }

  /** The batch's lines from the encoder thread (started on first use). Errors in the data are refusals. */
  async #encodeOffThread(
    batch: TelemetryBatch,
    options: SenderOptions,
    generation: number,
  ): Promise<Buffer | null> {
    if (this.#encoder === null) {
      const spec = workerModule(import.meta.url, 'ilp-worker');
      this.#encoder = new Piscina<IlpTask, IlpResult>({
        filename: spec.filename,
        execArgv: spec.execArgv,
        minThreads: 1,
        maxThreads: 1,
        idleTimeout: 60_000,
        atomics: 'disabled',
        workerData: { priority: this.#priority },
      });
    }
    // Parts from the codec workers are joined, not decoded; rows that are objects get encoded here (rare).
    const data = encodeBatchForTransfer(batch);
    const result = await this.#encoder.run(
      {
        data,
        config: this.config.source,
        protocolVersion: String(options.protocol_version),
        tables: this.tables,
      },
      { transferList: [data.buffer] },
    );
    this.#checkGeneration(generation);
    this.encodedOffThread++;
    if (result.error !== null)
      throw new BatchRejectedError(`cannot encode the batch as ILP: ${result.error}`);
    return result.lines === null
      ? null
      : Buffer.from(result.lines.buffer, result.lines.byteOffset, result.lines.byteLength);
  }

  /** Creates the tables (idempotent: CREATE TABLE IF NOT EXISTS). Called before the first write. */
  async ensureTables(): Promise<void> {
    for (const statement of schemaStatements(this.tables)) await this.#http.exec(statement);
    this.#schemaReady = true;
    this.#log.info({ questdb: this.description, tables: this.tables }, 'QuestDB telemetry tables ready');
  }

  async #ensureTables(): Promise<void> {
    if (this.#schemaReady || !this.#createTables) return;
    await this.ensureTables();
  }

  async #senderOptions(): Promise<SenderOptions> {
    if (this.#options !== null) return this.#options;
    const options = senderOptionsFor(this.config);
    // Only with an explicit protocol_version=auto: ask the server (fails against QuestDB < 9.0, see the reference).
    if (options.protocol_version === 'auto') await SenderOptions.resolveAuto(options);
    this.#options = options;
    return options;
  }

  #transportFor(options: SenderOptions): SenderTransport {
    if (this.#transport !== null) return this.#transport;
    // One socket: the pipeline never has two writes in flight.
    const agentOptions = { keepAlive: true, maxSockets: 1 };
    this.#agent =
      this.config.protocol === 'https' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    options.agent = this.#agent;
    this.#transport = createTransport(options);
    return this.#transport;
  }

  #checkGeneration(generation: number): void {
    if (generation !== this.#generation) throw new Error('QuestDB write abandoned (time-box)');
  }

  /**
   * ILP lines of the batch (null when empty), encoded in slices with the event loop yielded between them, so a
   * large batch never blocks the broker for long. Encoding errors are data errors: the pipeline splits the batch.
   */
  async #encode(batch: TelemetryBatch, options: SenderOptions, generation: number): Promise<Buffer | null> {
    // A writer per call: an abandoned write that is still encoding must not share a buffer with the next one.
    const w = ilpWriterFor(options);
    const total = batch.rows.length + batch.invalid.length;
    for (let start = 0; start < total; start += ENCODE_SLICE) {
      if (start > 0) {
        await new Promise((resolve) => setImmediate(resolve));
        this.#checkGeneration(generation);
      }
      try {
        writeBatchLines(w, batch, this.tables, start, Math.min(total, start + ENCODE_SLICE));
      } catch (error) {
        throw new BatchRejectedError(`cannot encode the batch as ILP: ${errorMessage(error)}`);
      }
    }
    return w.finish();
  }
}
