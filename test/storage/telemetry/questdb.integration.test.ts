/**
 * Against a real QuestDB, by configuration only:
 *
 *   OMAP_QUESTDB='http::addr=localhost:9000' npx vitest run test/storage/telemetry/questdb.integration.test.ts
 *
 * This is the project's single allowed conditional suite (`describe.runIf`): QuestDB cannot be installed in CI,
 * where the same writer code runs against the loopback server of questdb-writer.test.ts instead. Tables get a
 * unique prefix per run and are dropped at the end.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTelemetry, type Telemetry } from '../../../storage/telemetry/index.js';
import { parseQuestDBConfig } from '../../../storage/telemetry/questdb-config.js';
import { QuestDBHttp } from '../../../storage/telemetry/questdb-http.js';
import { QuestDBWriter } from '../../../storage/telemetry/questdb-writer.js';
import { createMessageReader } from '../../../storage/telemetry/reader.js';
import { SqliteHistory } from '../../../storage/telemetry/sqlite-history.js';
import { invalidMessages, messageRows, senmlRows, tempDir } from './fixtures.js';

const config = process.env.OMAP_QUESTDB ?? '';

describe.runIf(config)('QuestDB integration (OMAP_QUESTDB)', () => {
  const prefix = `omap_it_${Date.now().toString(36)}`;
  const tables = {
    senml: `${prefix}_senml`,
    messages: `${prefix}_messages`,
    deadLetter: `${prefix}_dead_letter`,
  };
  const channel = `it-${prefix}`;
  const rows = senmlRows(3000, { channel, start: Math.floor(Date.now() / 1000) - 3600 });
  const payloads = messageRows(10, { channel, created: Date.now() - 60_000 });
  const invalid = invalidMessages(3, { channel });
  let dir: { dir: string; remove: () => void };
  let telemetry: Telemetry;
  let sql: QuestDBHttp;
  let embedded: SqliteHistory;

  /** WAL tables apply commits asynchronously: wait until `table` shows `expected` rows of our channel. */
  async function rowsOf(table: string, expected: number): Promise<number> {
    let count = -1;
    for (let i = 0; i < 100; i++) {
      const result = await sql.exec(`SELECT count() FROM ${table} WHERE channel = '${channel}'`);
      count = Number(result.dataset[0]?.[0] ?? 0);
      if (count === expected) return count;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return count;
  }

  beforeAll(async () => {
    dir = tempDir('omap-questdb-it-');
    sql = new QuestDBHttp(parseQuestDBConfig(config));
    telemetry = await openTelemetry({ dataDir: dir.dir, questdb: config, questdbTables: tables });
    embedded = new SqliteHistory({ path: join(dir.dir, 'reference.sqlite'), retention: { intervalMs: 0 } });
    await embedded.write({ rows: [...rows, ...payloads], invalid });
  });

  afterAll(async () => {
    await telemetry?.close();
    await embedded?.close();
    for (const table of Object.values(tables))
      await sql?.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    sql?.close();
    dir?.remove();
  });

  it('creates the tables and writes every row, message and dead letter', async () => {
    telemetry.sink.write(rows.slice(0, 1500));
    telemetry.sink.write([...rows.slice(1500), ...payloads], invalid);
    await telemetry.sink.flush(30_000);
    expect(telemetry.sink.stats()).toMatchObject({ writtenRows: 3010, deadLettered: 3, retries: 0 });
    expect(await rowsOf(tables.senml, 3000)).toBe(3000);
    expect(await rowsOf(tables.messages, 10)).toBe(10);
    expect(await rowsOf(tables.deadLetter, 3)).toBe(3);
  });

  it('keeps one row per key when a batch is sent again (DEDUP UPSERT KEYS)', async () => {
    const writer = new QuestDBWriter({ config, tables });
    try {
      await writer.write({ rows: [...rows.slice(0, 500), ...payloads], invalid });
    } finally {
      await writer.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await rowsOf(tables.senml, 3000)).toBe(3000);
    expect(await rowsOf(tables.messages, 10)).toBe(10);
    expect(await rowsOf(tables.deadLetter, 3)).toBe(3);
  });

  it('answers history queries exactly like the embedded store', async () => {
    const reference = createMessageReader(embedded);
    const queries: Record<string, string>[] = [
      {},
      { limit: '50', offset: '120', order: 'asc' },
      { publisher: 'thing-3', subtopic: 'room1' },
      { name: 'voltage', from: String(rows[100]!.time), to: String(rows[2000]!.time) },
      { format: 'payload' },
      ...(['min', 'max', 'avg', 'sum', 'count'] as const).map((aggregation) => ({
        aggregation,
        interval: '1m',
      })),
    ];
    for (const query of queries) {
      const fromQuestDB = await telemetry.reader.readMessages(channel, query);
      const fromSqlite = await reference.readMessages(channel, query);
      if (query.aggregation === 'avg' || query.aggregation === 'sum') {
        expect(fromQuestDB.messages.length, JSON.stringify(query)).toBe(fromSqlite.messages.length);
        fromQuestDB.messages.forEach((bucket, i) => {
          const other = fromSqlite.messages[i] as { value: number };
          expect((bucket as { value: number }).value).toBeCloseTo(other.value, 6);
        });
      } else {
        expect(fromQuestDB, JSON.stringify(query)).toEqual(fromSqlite);
      }
    }
  });
});
