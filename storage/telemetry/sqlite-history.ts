/**
 * The embedded telemetry history: SQLite (better-sqlite3) in its own file `<dataDir>/telemetry.sqlite` (WAL), so
 * `npm start` alone stores and answers history. A store of the pipeline and a history reader.
 *
 * - One batch = one transaction. Rows are keyed like the QuestDB DEDUP keys (unique indexes) and written with
 *   INSERT OR REPLACE, so a re-sent batch never duplicates.
 * - Retention is bounded by age (`maxAgeMs`, on the measurement time) and by rows per table (`maxRows`, oldest
 *   inserted first), enforced every `intervalMs` in chunks: cheap when nothing is due (two index look-ups per
 *   table; `count(*)` only once the rowid span passes `maxRows`).
 * - Calls are synchronous on the caller's thread (better-sqlite3): batches are kept small (see `openTelemetry`'s
 *   defaults) so one transaction blocks the event loop for a few milliseconds only.
 */
import Database from 'better-sqlite3';
import { materialize } from './batch-codec.js';
import { crc32 } from './crc32.js';
import type {
  AggregateBucket,
  HistoryReader,
  HistoryResult,
  MessageQuery,
  PayloadMessage,
  SenMLMessage,
} from './query.js';
import { secondsToUs, usToSeconds } from './query.js';
import { type Clock, systemClock } from './retry.js';
import {
  BatchRejectedError,
  errorMessage,
  silentTelemetryLogger,
  type TelemetryBatch,
  type TelemetryLogger,
  type TelemetryStore,
} from './types.js';

export interface RetentionOptions {
  /** Rows whose time is older than this are deleted. Default 30 days. 0 disables. */
  maxAgeMs?: number;
  /** Most rows kept per table (oldest inserted deleted first). Default 1 000 000. 0 disables. */
  maxRows?: number;
  /** How often retention runs. Default 60 000 ms. */
  intervalMs?: number;
  /** Rows deleted per transaction (the event loop is yielded between chunks). Default 5000. */
  chunkRows?: number;
}

export interface SqliteHistoryOptions {
  /** The database file (created), e.g. `<dataDir>/telemetry.sqlite`; `:memory:` for tests. */
  path: string;
  retention?: RetentionOptions;
  /**
   * SQLite `synchronous`: 'NORMAL' (default; in WAL mode a power loss may lose the last transactions, an application
   * crash loses nothing) or 'FULL'.
   */
  synchronous?: 'NORMAL' | 'FULL';
  clock?: Clock;
  logger?: TelemetryLogger;
}

export interface RetentionResult {
  deletedByAge: number;
  deletedByCount: number;
}

const TABLES = ['senml', 'messages', 'dead_letter'] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS senml (
  ts INTEGER NOT NULL, channel TEXT NOT NULL, subtopic TEXT NOT NULL, publisher TEXT NOT NULL,
  protocol TEXT NOT NULL, name TEXT NOT NULL, unit TEXT, value REAL, string_value TEXT, bool_value INTEGER,
  data_value TEXT, sum REAL, update_time REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS senml_key ON senml (channel, ts, publisher, name, subtopic);
CREATE INDEX IF NOT EXISTS senml_ts ON senml (ts);
CREATE TABLE IF NOT EXISTS messages (
  ts INTEGER NOT NULL, channel TEXT NOT NULL, subtopic TEXT NOT NULL, publisher TEXT NOT NULL,
  protocol TEXT NOT NULL, content_type TEXT NOT NULL, payload BLOB NOT NULL, payload_crc INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_key ON messages (channel, ts, publisher, subtopic, payload_crc);
CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts);
CREATE TABLE IF NOT EXISTS dead_letter (
  ts INTEGER NOT NULL, channel TEXT NOT NULL, subtopic TEXT NOT NULL, publisher TEXT NOT NULL,
  protocol TEXT NOT NULL, content_type TEXT NOT NULL, payload BLOB NOT NULL, payload_crc INTEGER NOT NULL,
  error_code TEXT NOT NULL, error_message TEXT NOT NULL, error_index INTEGER NOT NULL, error_rule TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letter_key ON dead_letter (channel, ts, publisher, subtopic, payload_crc);
CREATE INDEX IF NOT EXISTS dead_letter_ts ON dead_letter (ts);
`;

/** SQLite errors caused by the data itself (re-sending would fail again); everything else is retried. */
function isDataError(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return true;
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_TOOBIG' || code === 'SQLITE_MISMATCH')
  );
}

const nullable = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

interface SenMLRecordRow {
  ts: number;
  channel: string;
  subtopic: string;
  publisher: string;
  protocol: string;
  name: string;
  unit: string | null;
  value: number | null;
  string_value: string | null;
  bool_value: number | null;
  data_value: string | null;
  sum: number | null;
  update_time: number | null;
}

interface PayloadRecordRow {
  ts: number;
  channel: string;
  subtopic: string;
  publisher: string;
  protocol: string;
  content_type: string;
  payload: Buffer;
}

interface BucketRow {
  bucket: number;
  name: string;
  value: number | null;
}

function senmlMessage(r: SenMLRecordRow): SenMLMessage {
  const m: SenMLMessage = {
    channel: r.channel,
    subtopic: r.subtopic,
    publisher: r.publisher,
    protocol: r.protocol,
    name: r.name,
    time: usToSeconds(r.ts),
  };
  if (r.unit !== null) m.unit = r.unit;
  if (r.value !== null) m.value = r.value;
  if (r.string_value !== null) m.stringValue = r.string_value;
  if (r.bool_value !== null) m.boolValue = r.bool_value !== 0;
  if (r.data_value !== null) m.dataValue = r.data_value;
  if (r.sum !== null) m.sum = r.sum;
  if (r.update_time !== null) m.updateTime = r.update_time;
  return m;
}

/** WHERE clause and parameters of a query: values are always bound, never interpolated. */
function where(channel: string, query: MessageQuery, withName: boolean): { sql: string; params: unknown[] } {
  const clauses = ['channel = ?'];
  const params: unknown[] = [channel];
  if (query.fromUs !== null) {
    clauses.push('ts >= ?');
    params.push(query.fromUs);
  }
  if (query.toUs !== null) {
    clauses.push('ts < ?');
    params.push(query.toUs);
  }
  if (query.subtopic !== null) {
    clauses.push('subtopic = ?');
    params.push(query.subtopic);
  }
  if (query.publisher !== null) {
    clauses.push('publisher = ?');
    params.push(query.publisher);
  }
  if (withName && query.name !== null) {
    clauses.push('name = ?');
    params.push(query.name);
  }
  return { sql: clauses.join(' AND '), params };
}

export class SqliteHistory implements TelemetryStore, HistoryReader {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #maxAgeMs: number;
  readonly #maxRows: number;
  readonly #intervalMs: number;
  readonly #chunkRows: number;
  readonly #clock: Clock;
  readonly #log: TelemetryLogger;
  readonly #insertBatch: (batch: TelemetryBatch) => void;
  #timer: unknown = null;
  #retention: Promise<RetentionResult> | null = null;
  #closed = false;

  constructor(options: SqliteHistoryOptions) {
    this.#maxAgeMs = options.retention?.maxAgeMs ?? 30 * 86_400_000;
    this.#maxRows = options.retention?.maxRows ?? 1_000_000;
    this.#intervalMs = options.retention?.intervalMs ?? 60_000;
    this.#chunkRows = options.retention?.chunkRows ?? 5000;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentTelemetryLogger;
    this.#db = new Database(options.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    const senml = this.#db.prepare(
      `INSERT OR REPLACE INTO senml (ts, channel, subtopic, publisher, protocol, name, unit, value, string_value,
        bool_value, data_value, sum, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const message = this.#db.prepare(
      `INSERT OR REPLACE INTO messages (ts, channel, subtopic, publisher, protocol, content_type, payload, payload_crc)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const deadLetter = this.#db.prepare(
      `INSERT OR REPLACE INTO dead_letter (ts, channel, subtopic, publisher, protocol, content_type, payload,
        payload_crc, error_code, error_message, error_index, error_rule) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertBatch = this.#db.transaction((batch: TelemetryBatch) => {
      for (const row of batch.rows) {
        if (row.kind === 'senml') {
          senml.run(
            secondsToUs(row.time),
            row.channel,
            row.subtopic,
            row.publisher,
            row.protocol,
            row.name,
            nullable(row.unit),
            nullable(row.value),
            nullable(row.stringValue),
            row.boolValue === undefined ? null : row.boolValue ? 1 : 0,
            nullable(row.dataValue),
            nullable(row.sum),
            nullable(row.updateTime),
          );
        } else {
          message.run(
            Math.round(row.created * 1000),
            row.channel,
            row.subtopic,
            row.publisher,
            row.protocol,
            row.contentType,
            row.payload,
            crc32(row.payload),
          );
        }
      }
      for (const { envelope: e, error } of batch.invalid) {
        deadLetter.run(
          Math.round(e.created * 1000),
          e.channel,
          e.subtopic,
          e.publisher,
          e.protocol,
          e.contentType,
          e.payload,
          crc32(e.payload),
          error.code,
          error.message,
          error.index,
          error.rule,
        );
      }
    });
    if (this.#intervalMs > 0 && (this.#maxAgeMs > 0 || this.#maxRows > 0)) this.#schedule();
  }

  // --- TelemetryStore ------------------------------------------------------------------------------------------------

  write(batch: TelemetryBatch): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('telemetry history is closed'));
    try {
      this.#insertBatch(materialize(batch));
      return Promise.resolve();
    } catch (error) {
      if (isDataError(error)) return Promise.reject(new BatchRejectedError(errorMessage(error)));
      return Promise.reject(error);
    }
  }

  /** Nothing to cancel: a write is one synchronous transaction. */
  abandon(): void {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#retention?.catch(() => undefined);
    this.#db.close();
  }

  // --- retention -----------------------------------------------------------------------------------------------------

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      void this.enforceRetention()
        .catch((error: unknown) =>
          this.#log.error({ err: errorMessage(error) }, 'telemetry retention failed'),
        )
        .finally(() => {
          if (!this.#closed) this.#schedule();
        });
    }, this.#intervalMs);
  }

  /** Deletes rows past the age and count bounds, in chunks (yielding between them). Runs one at a time. */
  enforceRetention(): Promise<RetentionResult> {
    this.#retention ??= this.#enforce().finally(() => {
      this.#retention = null;
    });
    return this.#retention;
  }

  async #enforce(): Promise<RetentionResult> {
    const result: RetentionResult = { deletedByAge: 0, deletedByCount: 0 };
    const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (const table of TABLES) {
      if (this.#maxAgeMs > 0) {
        const cutoff = (this.#clock.now() - this.#maxAgeMs) * 1000;
        const del = this.#db.prepare(
          `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ts < ? LIMIT ?)`,
        );
        for (;;) {
          if (this.#closed) return result;
          const { changes } = del.run(cutoff, this.#chunkRows);
          result.deletedByAge += changes;
          if (changes < this.#chunkRows) break;
          await yieldLoop();
        }
      }
      if (this.#maxRows > 0) {
        if (this.#closed) return result;
        const span = this.#db.prepare(`SELECT min(rowid) AS lo, max(rowid) AS hi FROM ${table}`).get() as {
          lo: number | null;
          hi: number | null;
        };
        // rowids only grow: when their span is within the bound, so is the count (no full count needed).
        if (span.lo === null || span.hi === null || span.hi - span.lo + 1 <= this.#maxRows) continue;
        const { count } = this.#db.prepare(`SELECT count(*) AS count FROM ${table}`).get() as {
          count: number;
        };
        let excess = count - this.#maxRows;
        const del = this.#db.prepare(
          `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} ORDER BY rowid LIMIT ?)`,
        );
        while (excess > 0) {
          if (this.#closed) return result;
          const { changes } = del.run(Math.min(excess, this.#chunkRows));
          result.deletedByCount += changes;
          excess -= changes;
          if (changes === 0) break;
          if (excess > 0) await yieldLoop();
        }
      }
    }
    if (result.deletedByAge + result.deletedByCount > 0)
      this.#log.debug({ ...result }, 'telemetry retention');
    return result;
  }

  /** Rows per table (diagnostics and tests; a full count). */
  counts(): Record<(typeof TABLES)[number], number> {
    const count = (table: string): number =>
      (this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { senml: count('senml'), messages: count('messages'), dead_letter: count('dead_letter') };
  }

  // --- HistoryReader -------------------------------------------------------------------------------------------------

  async readSenML(channel: string, query: MessageQuery): Promise<HistoryResult<SenMLMessage>> {
    const w = where(channel, query, true);
    const dir = query.order === 'asc' ? 'ASC' : 'DESC';
    const total = (
      this.#db.prepare(`SELECT count(*) AS n FROM senml WHERE ${w.sql}`).get(...w.params) as { n: number }
    ).n;
    const rows = this.#db
      .prepare(
        `SELECT ts, channel, subtopic, publisher, protocol, name, unit, value, string_value, bool_value, data_value,
          sum, update_time FROM senml WHERE ${w.sql}
          ORDER BY ts ${dir}, publisher ${dir}, name ${dir}, subtopic ${dir} LIMIT ? OFFSET ?`,
      )
      .all(...w.params, query.limit, query.offset) as SenMLRecordRow[];
    return { total, items: rows.map(senmlMessage) };
  }

  async readPayloads(channel: string, query: MessageQuery): Promise<HistoryResult<PayloadMessage>> {
    const w = where(channel, query, false);
    const dir = query.order === 'asc' ? 'ASC' : 'DESC';
    const total = (
      this.#db.prepare(`SELECT count(*) AS n FROM messages WHERE ${w.sql}`).get(...w.params) as { n: number }
    ).n;
    const rows = this.#db
      .prepare(
        `SELECT ts, channel, subtopic, publisher, protocol, content_type, payload FROM messages WHERE ${w.sql}
          ORDER BY ts ${dir}, publisher ${dir}, subtopic ${dir}, payload_crc ${dir} LIMIT ? OFFSET ?`,
      )
      .all(...w.params, query.limit, query.offset) as PayloadRecordRow[];
    return {
      total,
      items: rows.map((r) => ({
        channel: r.channel,
        subtopic: r.subtopic,
        publisher: r.publisher,
        protocol: r.protocol,
        contentType: r.content_type,
        time: usToSeconds(r.ts),
        payload: r.payload.toString('base64'),
      })),
    };
  }

  async aggregate(channel: string, query: MessageQuery): Promise<HistoryResult<AggregateBucket>> {
    const aggregation = query.aggregation;
    if (aggregation === null) throw new Error('aggregate() needs query.aggregation');
    const w = where(channel, query, true);
    const dir = query.order === 'asc' ? 'ASC' : 'DESC';
    // The function name comes from a closed list (validated in parseMessageQuery), never from the request text.
    const fn = { min: 'min', max: 'max', avg: 'avg', sum: 'sum', count: 'count' }[aggregation.fn];
    const grouped = `SELECT ts - (ts % ?) AS bucket, name, ${fn}(value) AS value FROM senml
      WHERE ${w.sql} AND value IS NOT NULL GROUP BY bucket, name`;
    const params = [aggregation.intervalUs, ...w.params];
    const total = (this.#db.prepare(`SELECT count(*) AS n FROM (${grouped})`).get(...params) as { n: number })
      .n;
    const rows = this.#db
      .prepare(`${grouped} ORDER BY bucket ${dir}, name ${dir} LIMIT ? OFFSET ?`)
      .all(...params, query.limit, query.offset) as BucketRow[];
    return { total, items: rows.map((r) => ({ time: usToSeconds(r.bucket), name: r.name, value: r.value })) };
  }
}
