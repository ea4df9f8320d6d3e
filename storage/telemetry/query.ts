/**
 * The history query: its parameters (parsed and validated from a URL query, so the SQL builders only ever see
 * checked values) and the JSON shapes both stores answer with.
 */

export type Aggregation = 'min' | 'max' | 'avg' | 'sum' | 'count';
export const AGGREGATIONS: readonly Aggregation[] = ['min', 'max', 'avg', 'sum', 'count'];

/** `senml`: resolved SenML records. `payload`: whole messages stored as bytes (octet-stream, E2E ciphertext...). */
export type MessageFormat = 'senml' | 'payload';

export interface MessageQuery {
  format: MessageFormat;
  /** Inclusive lower bound, microseconds since the epoch (null: unbounded). */
  fromUs: number | null;
  /** Exclusive upper bound, microseconds since the epoch (null: unbounded). */
  toUs: number | null;
  subtopic: string | null;
  publisher: string | null;
  /** SenML record name (senml format only). */
  name: string | null;
  limit: number;
  offset: number;
  /** By time (bucket time when aggregating); ties are broken by the other key columns in the same direction. */
  order: 'asc' | 'desc';
  /** Aggregate `value` per (time bucket, name): buckets aligned on the Unix epoch, `intervalUs` wide. */
  aggregation: { fn: Aggregation; interval: string; intervalUs: number } | null;
}

/** One SenML record. Absent fields are left out (never null). `time`/`updateTime` in seconds, as in SenML. */
export interface SenMLMessage {
  channel: string;
  subtopic: string;
  publisher: string;
  protocol: string;
  name: string;
  unit?: string;
  time: number;
  value?: number;
  stringValue?: string;
  boolValue?: boolean;
  dataValue?: string;
  sum?: number;
  updateTime?: number;
}

/** One whole message; `payload` is base64 (standard alphabet, padded). `time` is the reception time, seconds. */
export interface PayloadMessage {
  channel: string;
  subtopic: string;
  publisher: string;
  protocol: string;
  contentType: string;
  time: number;
  payload: string;
}

/** One aggregation bucket of one record name: `time` is the bucket start (seconds); `value` null when no values. */
export interface AggregateBucket {
  time: number;
  name: string;
  value: number | null;
}

/** What a store returns for one query; `total` counts all matches (or buckets), ignoring limit and offset. */
export interface HistoryResult<T> {
  total: number;
  items: T[];
}

/** Read side of a store. Implementations take a validated {@link MessageQuery} and never interpolate raw input. */
export interface HistoryReader {
  readSenML(channel: string, query: MessageQuery): Promise<HistoryResult<SenMLMessage>>;
  readPayloads(channel: string, query: MessageQuery): Promise<HistoryResult<PayloadMessage>>;
  aggregate(channel: string, query: MessageQuery): Promise<HistoryResult<AggregateBucket>>;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
export const MAX_OFFSET = 1_000_000;
const MAX_FILTER_LENGTH = 1024;
/** Smallest and largest aggregation intervals (1 s … 366 days). */
const MIN_INTERVAL_US = 1_000_000;
const MAX_INTERVAL_US = 366 * 86_400_000_000;

const UNIT_US: Record<string, number> = {
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
  d: 86_400_000_000,
  w: 604_800_000_000,
};

export class QueryError extends Error {
  override readonly name = 'QueryError';
}

/** Query parameters as a URL query gives them: a URLSearchParams or a plain record (last value wins). */
export type QueryParams = URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

function param(params: QueryParams, key: string): string | null {
  if (params instanceof URLSearchParams) {
    const all = params.getAll(key);
    return all.length > 0 ? all[all.length - 1]! : null;
  }
  const value = params[key];
  if (value === undefined) return null;
  if (typeof value === 'string') return value;
  return value.length > 0 ? value[value.length - 1]! : null;
}

/** Parses `1m`, `15m`, `1h`, `1d`... into microseconds. */
export function parseInterval(text: string): number {
  const match = /^(\d{1,6})([smhdw])$/.exec(text);
  if (match === null) throw new QueryError(`interval must look like 30s, 1m, 1h, 1d or 1w (got "${text}")`);
  const us = Number(match[1]) * UNIT_US[match[2]!]!;
  if (us < MIN_INTERVAL_US || us > MAX_INTERVAL_US)
    throw new QueryError('interval must be between 1s and 366d');
  return us;
}

/** `from`/`to`: seconds since the epoch (fractions allowed, like SenML times) or an ISO 8601 date-time. */
export function parseTime(text: string, key: string): number {
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    const us = Math.round(Number(text) * 1e6);
    if (Number.isSafeInteger(us)) return us;
  } else if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms * 1000;
  }
  throw new QueryError(`${key} must be seconds since the epoch or an ISO 8601 date-time (got "${text}")`);
}

function integer(text: string | null, key: string, fallback: number, min: number, max: number): number {
  if (text === null || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new QueryError(`${key} must be an integer`);
  const value = Number(text);
  if (value < min || value > max) throw new QueryError(`${key} must be between ${min} and ${max}`);
  return value;
}

function filter(text: string | null, key: string): string | null {
  if (text === null || text === '') return null;
  if (text.length > MAX_FILTER_LENGTH) throw new QueryError(`${key} is too long`);
  // Control characters are never part of ids, names or topics we store; refusing them keeps the SQL text simple.
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new QueryError(`${key} contains control characters`);
  return text;
}

/**
 * Validates URL query parameters: `from`, `to`, `subtopic`, `publisher`, `name`, `limit` (1…10 000, default 100),
 * `offset` (0…1 000 000), `order` (`desc` default, `asc`), `aggregation` (`min|max|avg|sum|count`) with `interval`
 * (e.g. `1m`, `1h`; default `1h`), `format` (`senml` default, `payload`). Unknown parameters are ignored.
 * @throws {QueryError} with a message fit for a 400 answer.
 */
export function parseMessageQuery(params: QueryParams): MessageQuery {
  const format = param(params, 'format') ?? 'senml';
  if (format !== 'senml' && format !== 'payload') throw new QueryError('format must be senml or payload');
  const order = param(params, 'order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new QueryError('order must be asc or desc');
  const fromText = param(params, 'from');
  const toText = param(params, 'to');
  const fromUs = fromText === null || fromText === '' ? null : parseTime(fromText, 'from');
  const toUs = toText === null || toText === '' ? null : parseTime(toText, 'to');
  if (fromUs !== null && toUs !== null && fromUs >= toUs) throw new QueryError('from must be before to');
  const name = filter(param(params, 'name'), 'name');
  const fn = param(params, 'aggregation');
  let aggregation: MessageQuery['aggregation'] = null;
  if (fn !== null && fn !== '') {
    if (!(AGGREGATIONS as readonly string[]).includes(fn)) {
      throw new QueryError(`aggregation must be one of ${AGGREGATIONS.join(', ')}`);
    }
    if (format !== 'senml') throw new QueryError('aggregation applies to the senml format only');
    const interval = param(params, 'interval') || '1h';
    aggregation = { fn: fn as Aggregation, interval, intervalUs: parseInterval(interval) };
  } else if (param(params, 'interval')) {
    throw new QueryError('interval needs an aggregation');
  }
  if (format === 'payload' && name !== null) throw new QueryError('name applies to the senml format only');
  return {
    format,
    fromUs,
    toUs,
    subtopic: filter(param(params, 'subtopic'), 'subtopic'),
    publisher: filter(param(params, 'publisher'), 'publisher'),
    name,
    limit: integer(param(params, 'limit'), 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT),
    offset: integer(param(params, 'offset'), 'offset', 0, 0, MAX_OFFSET),
    order,
    aggregation,
  };
}

/** Seconds from stored microseconds (exact for any µs timestamp below 2^53). */
export function usToSeconds(us: number): number {
  return us / 1e6;
}

/** Stored microseconds from a SenML time in seconds. Both stores round the same way, so keys agree. */
export function secondsToUs(seconds: number): number {
  return Math.round(seconds * 1e6);
}
