/**
 * History reads from QuestDB through SQL over HTTP (`/exec`). `/exec` has no bind parameters, so the SQL text is
 * built here from a validated {@link MessageQuery} only:
 * - strings become QuestDB string literals: wrapped in single quotes, quotes doubled — QuestDB's only escape (a
 *   backslash is an ordinary character) — and control characters refused (parseMessageQuery refuses them first);
 * - numbers are checked safe integers printed by us; table names are checked identifiers; aggregation functions
 *   and sort directions come from closed lists.
 * Answers have the same shape as the embedded store's (the reader tests map both).
 */

import type {
  AggregateBucket,
  HistoryReader,
  HistoryResult,
  MessageQuery,
  PayloadMessage,
  SenMLMessage,
} from './query.js';
import { usToSeconds } from './query.js';
import type { QuestDBHttp } from './questdb-http.js';
import { QuestDBQueryError, rowsOf } from './questdb-http.js';
import type { QuestDBTables } from './questdb-schema.js';

/** A QuestDB string literal. @throws {TypeError} on control characters (never reach SQL). */
export function sqlString(value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value))
    throw new TypeError('control characters are not allowed in SQL literals');
  return `'${value.replaceAll("'", "''")}'`;
}

/** A QuestDB integer literal from a safe integer. */
export function sqlInteger(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`not a safe integer: ${value}`);
  return String(value);
}

/** A TIMESTAMP literal from microseconds since the epoch. */
function sqlTimestamp(us: number): string {
  return `cast(${sqlInteger(us)} AS TIMESTAMP)`;
}

function whereClause(channel: string, query: MessageQuery, withName: boolean): string {
  const clauses = [`channel = ${sqlString(channel)}`];
  if (query.fromUs !== null) clauses.push(`ts >= ${sqlTimestamp(query.fromUs)}`);
  if (query.toUs !== null) clauses.push(`ts < ${sqlTimestamp(query.toUs)}`);
  if (query.subtopic !== null) clauses.push(`subtopic = ${sqlString(query.subtopic)}`);
  if (query.publisher !== null) clauses.push(`publisher = ${sqlString(query.publisher)}`);
  if (withName && query.name !== null) clauses.push(`name = ${sqlString(query.name)}`);
  return clauses.join(' AND ');
}

/** QuestDB's `LIMIT lo, hi`: rows (lo, hi], i.e. skip `offset`, take `limit`. */
function limitClause(query: MessageQuery): string {
  return `LIMIT ${sqlInteger(query.offset)}, ${sqlInteger(query.offset + query.limit)}`;
}

function direction(query: MessageQuery): 'ASC' | 'DESC' {
  return query.order === 'asc' ? 'ASC' : 'DESC';
}

export interface QuestDBStatements {
  count: string;
  select: string;
}

export function senmlStatements(
  tables: QuestDBTables,
  channel: string,
  query: MessageQuery,
): QuestDBStatements {
  const where = whereClause(channel, query, true);
  const dir = direction(query);
  return {
    count: `SELECT count() AS n FROM ${tables.senml} WHERE ${where}`,
    select: `SELECT ts, channel, subtopic, publisher, protocol, name, unit, value_kind, value, string_value, bool_value, data_value, sum_value, update_time FROM ${tables.senml} WHERE ${where} ORDER BY ts ${dir}, publisher ${dir}, name ${dir}, subtopic ${dir} ${limitClause(query)}`,
  };
}

export function payloadStatements(
  tables: QuestDBTables,
  channel: string,
  query: MessageQuery,
): QuestDBStatements {
  const where = whereClause(channel, query, false);
  const dir = direction(query);
  return {
    count: `SELECT count() AS n FROM ${tables.messages} WHERE ${where}`,
    select: `SELECT ts, channel, subtopic, publisher, protocol, content_type, payload FROM ${tables.messages} WHERE ${where} ORDER BY ts ${dir}, publisher ${dir}, subtopic ${dir}, payload_crc ${dir} ${limitClause(query)}`,
  };
}

const AGGREGATE_SQL = { min: 'min', max: 'max', avg: 'avg', sum: 'sum', count: 'count' } as const;

export function aggregateStatements(
  tables: QuestDBTables,
  channel: string,
  query: MessageQuery,
): QuestDBStatements {
  const aggregation = query.aggregation;
  if (aggregation === null) throw new Error('aggregateStatements() needs query.aggregation');
  const interval = sqlInteger(aggregation.intervalUs);
  const fn = AGGREGATE_SQL[aggregation.fn];
  const dir = direction(query);
  // Buckets aligned on the Unix epoch (like the embedded store), not SAMPLE BY's calendar alignment.
  const bucketed = `SELECT cast(ts AS LONG) - cast(ts AS LONG) % ${interval} AS bucket, name, value FROM ${tables.senml} WHERE ${whereClause(channel, query, true)} AND value IS NOT NULL`;
  const grouped = `SELECT bucket, name, ${fn}(value) AS value FROM (${bucketed}) GROUP BY bucket, name`;
  return {
    count: `SELECT count() AS n FROM (${grouped})`,
    select: `${grouped} ORDER BY bucket ${dir}, name ${dir} ${limitClause(query)}`,
  };
}

/** Microseconds from a QuestDB timestamp as /exec renders it ("2024-01-02T03:04:05.123456Z") or a number. */
export function parseQuestDBTimestamp(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') throw new TypeError(`not a timestamp: ${String(value)}`);
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(value);
  if (match === null) throw new TypeError(`not a timestamp: ${value}`);
  const micros = Number((match[2] ?? '').padEnd(6, '0').slice(0, 6));
  return Date.parse(`${match[1]}Z`) * 1000 + micros;
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const number = (value: unknown): number | null => (typeof value === 'number' ? value : null);

function senmlMessage(row: Record<string, unknown>): SenMLMessage {
  const m: SenMLMessage = {
    channel: text(row.channel) ?? '',
    subtopic: text(row.subtopic) ?? '',
    publisher: text(row.publisher) ?? '',
    protocol: text(row.protocol) ?? '',
    name: text(row.name) ?? '',
    time: usToSeconds(parseQuestDBTimestamp(row.ts)),
  };
  const unit = text(row.unit);
  if (unit !== null) m.unit = unit;
  const value = number(row.value);
  if (value !== null) m.value = value;
  const stringValue = text(row.string_value);
  if (stringValue !== null) m.stringValue = stringValue;
  // BOOLEAN has no NULL in QuestDB: value_kind says whether the record carried vb.
  if (row.value_kind === 'vb' && typeof row.bool_value === 'boolean') m.boolValue = row.bool_value;
  const dataValue = text(row.data_value);
  if (dataValue !== null) m.dataValue = dataValue;
  const sum = number(row.sum_value);
  if (sum !== null) m.sum = sum;
  const updateTime = number(row.update_time);
  if (updateTime !== null) m.updateTime = updateTime;
  return m;
}

function isMissingTable(error: unknown): boolean {
  return error instanceof QuestDBQueryError && /does not exist/i.test(error.message);
}

export class QuestDBHistory implements HistoryReader {
  readonly #http: QuestDBHttp;
  readonly #tables: QuestDBTables;

  constructor(http: QuestDBHttp, tables: QuestDBTables) {
    this.#http = http;
    this.#tables = tables;
  }

  async readSenML(channel: string, query: MessageQuery): Promise<HistoryResult<SenMLMessage>> {
    return this.#run(senmlStatements(this.#tables, channel, query), senmlMessage);
  }

  async readPayloads(channel: string, query: MessageQuery): Promise<HistoryResult<PayloadMessage>> {
    return this.#run(payloadStatements(this.#tables, channel, query), (row) => ({
      channel: text(row.channel) ?? '',
      subtopic: text(row.subtopic) ?? '',
      publisher: text(row.publisher) ?? '',
      protocol: text(row.protocol) ?? '',
      contentType: text(row.content_type) ?? '',
      time: usToSeconds(parseQuestDBTimestamp(row.ts)),
      payload: text(row.payload) ?? '',
    }));
  }

  async aggregate(channel: string, query: MessageQuery): Promise<HistoryResult<AggregateBucket>> {
    return this.#run(aggregateStatements(this.#tables, channel, query), (row) => ({
      time: usToSeconds(number(row.bucket) ?? 0),
      name: text(row.name) ?? '',
      value: number(row.value),
    }));
  }

  async #run<T>(
    statements: QuestDBStatements,
    map: (row: Record<string, unknown>) => T,
  ): Promise<HistoryResult<T>> {
    try {
      const [count, select] = await Promise.all([
        this.#http.exec(statements.count),
        this.#http.exec(statements.select),
      ]);
      return { total: number(count.dataset[0]?.[0]) ?? 0, items: rowsOf(select).map(map) };
    } catch (error) {
      // No row written yet: the table does not exist, which is an empty history, not an error.
      if (isMissingTable(error)) return { total: 0, items: [] };
      throw error;
    }
  }
}
