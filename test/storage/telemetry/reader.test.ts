/**
 * The reader API on the embedded store (filters, pagination, order, each aggregation, payloads, validation), the
 * route handler, and the QuestDB reader: its SQL (quoted, never injectable) and its mapping of /exec answers to
 * the very same JSON shape as the embedded store.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageRow, SenMLRow } from '../../../codecs/index.js';
import {
  type AggregateBucket,
  type MessageQuery,
  parseMessageQuery,
  QueryError,
  type SenMLMessage,
} from '../../../storage/telemetry/query.js';
import { parseQuestDBConfig } from '../../../storage/telemetry/questdb-config.js';
import { QuestDBHttp } from '../../../storage/telemetry/questdb-http.js';
import {
  aggregateStatements,
  parseQuestDBTimestamp,
  QuestDBHistory,
  senmlStatements,
  sqlString,
} from '../../../storage/telemetry/questdb-reader.js';
import { DEFAULT_QUESTDB_TABLES } from '../../../storage/telemetry/questdb-schema.js';
import { createMessageReader, type MessagesPage } from '../../../storage/telemetry/reader.js';
import { messagesRoute } from '../../../storage/telemetry/route.js';
import { SqliteHistory } from '../../../storage/telemetry/sqlite-history.js';
import { type FakeQuestDB, startFakeQuestDB } from './fake-questdb.js';
import { tempDir } from './fixtures.js';

const A = 'chan-a';
const B = 'chan-b';
const T0 = 1_750_000_000;

function fixtureRows(channel: string, count: number): SenMLRow[] {
  const rows: SenMLRow[] = [];
  for (let k = 0; k < count; k++) {
    const name = k % 3 === 0 ? 'hum' : 'temp';
    const row: SenMLRow = {
      kind: 'senml',
      channel,
      subtopic: k % 4 === 0 ? 'room1' : '',
      publisher: k % 2 === 1 ? 'p2' : 'p1',
      protocol: 'mqtt',
      name,
      unit: name === 'temp' ? 'Cel' : '%RH',
      value: k,
      stringValue: undefined,
      boolValue: undefined,
      dataValue: undefined,
      sum: k === 5 ? 42 : undefined,
      time: T0 + k * 10 + 0.000123,
      updateTime: k === 9 ? 30 : undefined,
    };
    if (k === 7) Object.assign(row, { value: undefined, stringValue: "it's open" });
    if (k === 11) Object.assign(row, { value: undefined, boolValue: false, unit: undefined });
    if (k === 13) Object.assign(row, { value: undefined, boolValue: true });
    if (k === 17) Object.assign(row, { value: undefined, dataValue: 'AQID' });
    rows.push(row);
  }
  return rows;
}

const rowsA = fixtureRows(A, 60);
const payloads: MessageRow[] = [0, 1, 2].map((i) => ({
  kind: 'message',
  channel: A,
  subtopic: 'e2e',
  publisher: 'p1',
  protocol: 'http',
  contentType: 'application/octet-stream',
  created: T0 * 1000 + i * 1000,
  payload: Buffer.from([i, 0xff, 0x00, 0x7f]),
}));

let dir: { dir: string; remove: () => void };
let sqlite: SqliteHistory;
const reader = () => createMessageReader(sqlite);

beforeAll(async () => {
  dir = tempDir('omap-reader-');
  sqlite = new SqliteHistory({ path: join(dir.dir, 'telemetry.sqlite'), retention: { intervalMs: 0 } });
  await sqlite.write({ rows: [...rowsA, ...fixtureRows(B, 20), ...payloads], invalid: [] });
});

afterAll(async () => {
  await sqlite.close();
  dir.remove();
});

function expectedMessage(r: SenMLRow): SenMLMessage {
  const m: SenMLMessage = {
    channel: r.channel,
    subtopic: r.subtopic,
    publisher: r.publisher,
    protocol: r.protocol,
    name: r.name,
    time: Math.round(r.time * 1e6) / 1e6,
  };
  if (r.unit !== undefined) m.unit = r.unit;
  if (r.value !== undefined) m.value = r.value;
  if (r.stringValue !== undefined) m.stringValue = r.stringValue;
  if (r.boolValue !== undefined) m.boolValue = r.boolValue;
  if (r.dataValue !== undefined) m.dataValue = r.dataValue;
  if (r.sum !== undefined) m.sum = r.sum;
  if (r.updateTime !== undefined) m.updateTime = r.updateTime;
  return m;
}

const byTimeDesc = (a: SenMLRow, b: SenMLRow): number => b.time - a.time;

describe('readMessages on the embedded store', () => {
  it('answers the newest records first with every field mapped, absent ones left out', async () => {
    const page = await reader().readMessages(A, {});
    expect(page).toMatchObject({
      channel: A,
      format: 'senml',
      order: 'desc',
      from: null,
      to: null,
      aggregation: null,
      interval: null,
      offset: 0,
      limit: 100,
      total: 60,
    });
    expect(page.messages).toEqual([...rowsA].sort(byTimeDesc).map(expectedMessage));
    const bool = (page.messages as SenMLMessage[]).find((m) => m.boolValue === false)!;
    expect(bool).not.toHaveProperty('value');
    expect(bool).not.toHaveProperty('unit');
  });

  it('filters by subtopic, publisher, name and a time range (from inclusive, to exclusive)', async () => {
    const r = reader();
    const check = async (params: Record<string, string>, keep: (row: SenMLRow) => boolean) => {
      const page = await r.readMessages(A, { ...params, order: 'asc' });
      const expected = rowsA.filter(keep).map(expectedMessage);
      expect(page.total).toBe(expected.length);
      expect(page.messages).toEqual(expected);
    };
    await check({ subtopic: 'room1' }, (row) => row.subtopic === 'room1');
    await check({ publisher: 'p2' }, (row) => row.publisher === 'p2');
    await check({ name: 'hum' }, (row) => row.name === 'hum');
    await check({ from: String(T0 + 100.000123), to: String(T0 + 200.000123) }, (row) => {
      return row.time >= T0 + 100.000123 - 1e-7 && row.time < T0 + 200.000123 - 1e-7;
    });
    const iso = new Date((T0 + 300) * 1000).toISOString();
    await check({ from: iso, publisher: 'p1', name: 'temp' }, (row) => {
      return row.time >= T0 + 300 && row.publisher === 'p1' && row.name === 'temp';
    });
    expect((await r.readMessages(B, {})).total).toBe(20);
    expect((await r.readMessages('nope', {})).total).toBe(0);
  });

  it('pages with limit and offset over a stable order', async () => {
    const r = reader();
    const pages: SenMLMessage[] = [];
    for (let offset = 0; offset < 60; offset += 7) {
      const page = await r.readMessages(A, { limit: '7', offset: String(offset) });
      expect(page.total).toBe(60);
      pages.push(...(page.messages as SenMLMessage[]));
    }
    expect(pages).toEqual([...rowsA].sort(byTimeDesc).map(expectedMessage));
    const past = await r.readMessages(A, { offset: '1000' });
    expect(past.messages).toEqual([]);
    expect(past.total).toBe(60);
  });

  it.each(['min', 'max', 'avg', 'sum', 'count'] as const)(
    'aggregates %s per name over epoch-aligned intervals',
    async (fn) => {
      const page = await reader().readMessages(A, { aggregation: fn, interval: '1m' });
      const groups = new Map<string, number[]>();
      for (const row of rowsA) {
        if (row.value === undefined) continue;
        const us = Math.round(row.time * 1e6);
        const bucket = us - (us % 60_000_000);
        const key = `${bucket}|${row.name}`;
        groups.set(key, [...(groups.get(key) ?? []), row.value]);
      }
      const reduce = { min: Math.min, max: Math.max } as Record<string, (...v: number[]) => number>;
      const expected: AggregateBucket[] = [...groups.entries()]
        .map(([key, values]) => {
          const [bucket, name] = key.split('|') as [string, string];
          const sum = values.reduce((a, b) => a + b, 0);
          const value =
            fn === 'sum'
              ? sum
              : fn === 'avg'
                ? sum / values.length
                : fn === 'count'
                  ? values.length
                  : reduce[fn]!(...values);
          return { time: Number(bucket) / 1e6, name, value };
        })
        .sort((a, b) => b.time - a.time || (a.name < b.name ? 1 : -1));
      expect(page).toMatchObject({ aggregation: fn, interval: '1m', total: expected.length });
      const got = page.messages as AggregateBucket[];
      expect(got.map(({ time, name }) => ({ time, name }))).toEqual(
        expected.map(({ time, name }) => ({ time, name })),
      );
      got.forEach((bucket, i) => {
        expect(bucket.value).toBeCloseTo(expected[i]!.value!, 9);
      });
      const second = await reader().readMessages(A, {
        aggregation: fn,
        interval: '1m',
        limit: '2',
        offset: '2',
        order: 'asc',
      });
      expect((second.messages as AggregateBucket[]).map((b) => b.time)).toEqual(
        [...expected]
          .reverse()
          .slice(2, 4)
          .map((b) => b.time),
      );
    },
  );

  it('answers whole messages (format=payload) as base64', async () => {
    const page = await reader().readMessages(A, { format: 'payload', order: 'asc' });
    expect(page.total).toBe(3);
    expect(page.messages).toEqual(
      payloads.map((p) => ({
        channel: A,
        subtopic: 'e2e',
        publisher: 'p1',
        protocol: 'http',
        contentType: 'application/octet-stream',
        time: p.created / 1000,
        payload: Buffer.from(p.payload).toString('base64'),
      })),
    );
  });

  it('refuses invalid parameters with a QueryError', async () => {
    const bad: Record<string, string>[] = [
      { limit: '0' },
      { limit: '10001' },
      { limit: 'ten' },
      { offset: '-1' },
      { from: '200', to: '100' },
      { from: 'yesterday' },
      { aggregation: 'median' },
      { aggregation: 'avg', interval: '5x' },
      { aggregation: 'avg', interval: '0s' },
      { interval: '1m' },
      { format: 'xml' },
      { format: 'payload', name: 'temp' },
      { format: 'payload', aggregation: 'avg' },
      { publisher: 'a\u0000b' },
      { order: 'sideways' },
    ];
    for (const params of bad) {
      await expect(reader().readMessages(A, params), JSON.stringify(params)).rejects.toBeInstanceOf(
        QueryError,
      );
    }
    await expect(reader().readMessages('', {})).rejects.toBeInstanceOf(QueryError);
    expect(
      parseMessageQuery(new URLSearchParams('limit=5&limit=6&aggregation=max&interval=2h')),
    ).toMatchObject({
      limit: 6,
      aggregation: { fn: 'max', interval: '2h', intervalUs: 7_200_000_000 },
    });
  });
});

describe('messagesRoute', () => {
  it('answers 200 with the page, 400 for a bad query, 503 when the store fails, and matches its path', async () => {
    const route = messagesRoute(reader());
    const ok = await route.handle(A, new URLSearchParams('limit=2'));
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^application\/json/);
    expect((ok.body as MessagesPage).messages).toHaveLength(2);
    const bad = await route.handle(A, { limit: 'x' });
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid_query' } });
    const failing = messagesRoute({
      readMessages: () => Promise.reject(new Error('connect ECONNREFUSED')),
    });
    expect(await failing.handle(A, {})).toMatchObject({
      status: 503,
      body: { error: 'history_unavailable' },
    });
    expect(route.match('/channels/abc%2Fdef/messages')).toBe('abc/def');
    expect(route.match('/channels/abc/messages/')).toBe('abc');
    expect(route.match('/channels/abc/things')).toBeNull();
  });
});

// --- QuestDB reader --------------------------------------------------------------------------------------------

function query(params: Record<string, string>): MessageQuery {
  return parseMessageQuery(params);
}

/** How QuestDB's /exec renders a TIMESTAMP: ISO with microseconds. */
function isoMicros(seconds: number): string {
  const us = Math.round(seconds * 1e6);
  return new Date(Math.floor(us / 1000)).toISOString().replace('Z', `${String(us % 1000).padStart(3, '0')}Z`);
}

/** The /exec dataset QuestDB would answer for these messages (NULL symbols for '', BOOLEAN false when absent). */
function questdbDataset(messages: SenMLMessage[]): unknown[][] {
  return messages.map((m) => [
    isoMicros(m.time),
    m.channel,
    m.subtopic === '' ? null : m.subtopic,
    m.publisher,
    m.protocol,
    m.name,
    m.unit ?? null,
    m.value !== undefined
      ? 'v'
      : m.stringValue !== undefined
        ? 'vs'
        : m.boolValue !== undefined
          ? 'vb'
          : m.dataValue !== undefined
            ? 'vd'
            : 's',
    m.value ?? null,
    m.stringValue ?? null,
    m.boolValue ?? false,
    m.dataValue ?? null,
    m.sum ?? null,
    m.updateTime ?? null,
  ]);
}

const SENML_COLUMNS = [
  'ts',
  'channel',
  'subtopic',
  'publisher',
  'protocol',
  'name',
  'unit',
  'value_kind',
  'value',
  'string_value',
  'bool_value',
  'data_value',
  'sum_value',
  'update_time',
].map((name) => ({ name, type: 'STRING' }));

describe('QuestDB reader', () => {
  let fake: FakeQuestDB;
  let http: QuestDBHttp;
  beforeAll(async () => {
    fake = await startFakeQuestDB();
    http = new QuestDBHttp(parseQuestDBConfig(fake.config));
  });
  afterAll(async () => {
    http.close();
    await fake.stop();
  });

  it('quotes every value, so a filter cannot change the statement', () => {
    expect(sqlString("x' OR '1'='1")).toBe("'x'' OR ''1''=''1'");
    expect(sqlString('back\\slash')).toBe("'back\\slash'");
    expect(() => sqlString('a\nb')).toThrow(TypeError);
    const q = query({
      publisher: "p1' OR 1=1 --",
      name: "temp'; DROP TABLE omap_senml; --",
      from: '100',
      to: '200',
    });
    const { select, count } = senmlStatements(DEFAULT_QUESTDB_TABLES, "c'1", { ...q, limit: 10, offset: 20 });
    expect(select).toContain("channel = 'c''1'");
    expect(select).toContain("publisher = 'p1'' OR 1=1 --'");
    expect(select).toContain("name = 'temp''; DROP TABLE omap_senml; --'");
    expect(select).toContain('ts >= cast(100000000 AS TIMESTAMP) AND ts < cast(200000000 AS TIMESTAMP)');
    expect(select).toMatch(/ORDER BY ts DESC, publisher DESC, name DESC, subtopic DESC LIMIT 20, 30$/);
    expect(count).toMatch(/^SELECT count\(\) AS n FROM omap_senml WHERE /);
    const agg = aggregateStatements(
      DEFAULT_QUESTDB_TABLES,
      A,
      query({ aggregation: 'avg', interval: '15m' }),
    );
    expect(agg.select).toContain('cast(ts AS LONG) - cast(ts AS LONG) % 900000000 AS bucket');
    expect(agg.select).toContain('avg(value) AS value');
    expect(agg.select).toContain('GROUP BY bucket, name ORDER BY bucket DESC, name DESC LIMIT 0, 100');
  });

  it('parses /exec timestamps to the microsecond', () => {
    expect(parseQuestDBTimestamp('2025-06-15T14:13:20.000123Z')).toBe(1_749_996_800_000_123);
    expect(parseQuestDBTimestamp('2025-06-15T14:13:20Z')).toBe(1_749_996_800_000_000);
    expect(parseQuestDBTimestamp('2025-06-15T14:13:20.5Z')).toBe(1_749_996_800_500_000);
    expect(() => parseQuestDBTimestamp('yesterday')).toThrow(TypeError);
  });

  it('maps /exec answers to the same JSON as the embedded store', async () => {
    const questdb = createMessageReader(new QuestDBHistory(http, DEFAULT_QUESTDB_TABLES));
    for (const params of [{}, { publisher: 'p2', limit: '9', offset: '3' }, { name: 'temp', order: 'asc' }]) {
      const embedded = await reader().readMessages(A, params);
      fake.onQuery = (sql) =>
        sql.startsWith('SELECT count()')
          ? { status: 200, body: { columns: [{ name: 'n', type: 'LONG' }], dataset: [[embedded.total]] } }
          : {
              status: 200,
              body: { columns: SENML_COLUMNS, dataset: questdbDataset(embedded.messages as SenMLMessage[]) },
            };
      expect(await questdb.readMessages(A, params)).toEqual(embedded);
    }
    const embeddedAgg = await reader().readMessages(A, { aggregation: 'max', interval: '1m' });
    fake.onQuery = (sql) =>
      sql.startsWith('SELECT count()')
        ? { status: 200, body: { columns: [{ name: 'n', type: 'LONG' }], dataset: [[embeddedAgg.total]] } }
        : {
            status: 200,
            body: {
              columns: ['bucket', 'name', 'value'].map((name) => ({ name, type: 'x' })),
              dataset: (embeddedAgg.messages as AggregateBucket[]).map((b) => [
                Math.round(b.time * 1e6),
                b.name,
                b.value,
              ]),
            },
          };
    expect(await questdb.readMessages(A, { aggregation: 'max', interval: '1m' })).toEqual(embeddedAgg);
    const embeddedPayloads = await reader().readMessages(A, { format: 'payload' });
    fake.onQuery = (sql) =>
      sql.startsWith('SELECT count()')
        ? { status: 200, body: { columns: [{ name: 'n', type: 'LONG' }], dataset: [[3]] } }
        : {
            status: 200,
            body: {
              columns: ['ts', 'channel', 'subtopic', 'publisher', 'protocol', 'content_type', 'payload'].map(
                (name) => ({
                  name,
                  type: 'x',
                }),
              ),
              dataset: (embeddedPayloads.messages as { time: number; payload: string }[]).map((m) => [
                isoMicros(m.time),
                A,
                'e2e',
                'p1',
                'http',
                'application/octet-stream',
                m.payload,
              ]),
            },
          };
    expect(await questdb.readMessages(A, { format: 'payload' })).toEqual(embeddedPayloads);
  });

  it('answers an empty history before the table exists, and fails on other errors', async () => {
    const questdb = createMessageReader(new QuestDBHistory(http, DEFAULT_QUESTDB_TABLES));
    fake.onQuery = (sql) => ({
      status: 400,
      body: { query: sql, error: 'table does not exist [table=omap_senml]', position: 14 },
    });
    expect(await questdb.readMessages(A, {})).toMatchObject({ total: 0, messages: [] });
    fake.onQuery = (sql) => ({ status: 400, body: { query: sql, error: 'unexpected token', position: 3 } });
    await expect(questdb.readMessages(A, {})).rejects.toThrow('unexpected token');
  });
});
