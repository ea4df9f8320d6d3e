/**
 * The QuestDB writer behind the pipeline, against a loopback server speaking QuestDB's /write and /exec contracts
 * (fake-questdb.ts): table creation, ILP lines, batching, retries (500, reset, refused), the time-box on a hanging
 * request, the late success of an abandoned request, a poison row, spool and replay after a restart, torn-record
 * recovery — and, after every test, that no line was ever acknowledged twice.
 */
import { once } from 'node:events';
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Row, SenMLRow } from '../../../codecs/index.js';
import { encodeBatch } from '../../../storage/telemetry/batch-codec.js';
import { crc32 } from '../../../storage/telemetry/crc32.js';
import { type PipelineOptions, TelemetryPipeline } from '../../../storage/telemetry/pipeline.js';
import {
  parseQuestDBConfig,
  QuestDBConfigError,
  redactQuestDBConfig,
  senderOptionsFor,
} from '../../../storage/telemetry/questdb-config.js';
import { QuestDBWriter } from '../../../storage/telemetry/questdb-writer.js';
import { BatchRejectedError } from '../../../storage/telemetry/types.js';
import { type FakeQuestDB, parseIlpLine, startFakeQuestDB, stringField } from './fake-questdb.js';
import { invalidMessages, messageRows, senmlRows, tempDir } from './fixtures.js';

const fakes: FakeQuestDB[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const fake of fakes.splice(0)) {
    expect(fake.acknowledgedTwice()).toEqual([]);
    if (fake.server.listening) await fake.stop();
  }
});

async function fake(): Promise<FakeQuestDB> {
  const f = await startFakeQuestDB();
  fakes.push(f);
  return f;
}

function spoolDir(): string {
  const t = tempDir('omap-qdb-spool-');
  cleanups.push(t.remove);
  return t.dir;
}

function pipeline(config: string, options: Partial<PipelineOptions> = {}): TelemetryPipeline {
  const store = new QuestDBWriter({ config });
  const p = new TelemetryPipeline({
    store,
    spoolDir: options.spoolDir === undefined ? spoolDir() : options.spoolDir,
    batchRows: 500,
    lingerMs: 5,
    // Generous: a loaded CI machine must not time out healthy requests (the hang tests set their own).
    flushTimeoutMs: 5000,
    backoff: { baseMs: 10, maxMs: 100 },
    spillAfterMs: 150,
    closeTimeoutMs: 200,
    spool: { fsync: 'never' },
    ...options,
  });
  cleanups.push(() => p.close());
  return p;
}

/** The DEDUP identity of a row as the ILP line carries it (nanosecond timestamp). */
function senmlKey(row: SenMLRow): string {
  return `${BigInt(Math.round(row.time * 1e6)) * 1000n}|${row.publisher}|${row.name}|${row.subtopic}`;
}

function lineKey(raw: string): string {
  const line = parseIlpLine(raw);
  return `${line.timestamp}|${line.symbols.publisher ?? ''}|${line.symbols.name}|${line.symbols.subtopic ?? ''}`;
}

const keysOf = (rows: Row[]): string[] => rows.map((r) => senmlKey(r as SenMLRow));

/** Rows as the codec workers hand them over: one encoded part. */
function partOf(rows: Row[]): { bytes: Uint8Array; rows: number; invalid: number } {
  return { bytes: encodeBatch({ rows, invalid: [] }), rows: rows.length, invalid: 0 };
}

describe('QuestDB configuration', () => {
  it('refuses TCP, imposes auto_flush off and the stdlib transport, defaults protocol 1 and no client retries', () => {
    expect(() => parseQuestDBConfig('tcp::addr=localhost:9009')).toThrow(QuestDBConfigError);
    expect(() => parseQuestDBConfig('http::nope=1')).toThrow(QuestDBConfigError);
    const plain = senderOptionsFor(parseQuestDBConfig('http::addr=db:9000;auto_flush=on'));
    expect(plain).toMatchObject({ host: 'db', port: 9000, protocol_version: '1', retry_timeout: 0 });
    expect(plain.auto_flush).toBe(false);
    expect(plain.stdlib_http).toBe(true);
    const explicit = senderOptionsFor(
      parseQuestDBConfig(
        'https::addr=db:9000;protocol_version=2;retry_timeout=5000;username=admin;password=q;;uest',
      ),
    );
    expect(explicit).toMatchObject({ protocol_version: '2', retry_timeout: 5000, password: 'q;uest' });
    expect(redactQuestDBConfig('http::addr=db:9000;username=admin;password=q;;uest;token=abc')).toBe(
      'http::addr=db:9000;username=admin;password=***;token=***',
    );
  });
});

describe('QuestDBWriter through the pipeline', () => {
  it('creates the tables with DEDUP before the first row, then sends protocol-1 ILP lines', async () => {
    const db = await fake();
    const order: string[] = [];
    db.on('exec', () => order.push('exec'));
    db.on('write', () => order.push('write'));
    const p = pipeline(db.config);
    const [senml] = senmlRows(1);
    const tricky: SenMLRow = {
      ...senml!,
      subtopic: 'a b,c=d',
      value: undefined,
      stringValue: 'say "hi",\nthen\\bye',
      sum: 1.5,
    };
    const bool: SenMLRow = {
      ...senml!,
      name: 'door',
      value: undefined,
      boolValue: false,
      time: senml!.time + 1,
    };
    const [message] = messageRows(1);
    const [invalid] = invalidMessages(1);
    p.write([senml!, tricky, bool, message!], [invalid!]);
    await p.flush(5000);

    expect(order.slice(0, 4)).toEqual(['exec', 'exec', 'exec', 'write']);
    for (const ddl of db.queries) {
      expect(ddl).toMatch(/^CREATE TABLE IF NOT EXISTS omap_\w+ \(/);
      expect(ddl).toMatch(/TIMESTAMP\(ts\) PARTITION BY DAY WAL DEDUP UPSERT KEYS\(ts, channel, publisher, /);
    }
    expect(db.queries[0]).toContain('DEDUP UPSERT KEYS(ts, channel, publisher, name, subtopic)');
    expect(db.writes).toHaveLength(1);
    expect(db.writes[0]!.url).toBe('/write?precision=n');
    const lines = db.writes[0]!.lines.map(parseIlpLine);
    expect(lines.map((l) => l.table)).toEqual([
      'omap_senml',
      'omap_senml',
      'omap_senml',
      'omap_messages',
      'omap_dead_letter',
    ]);
    const [plain, escaped, door, whole, dead] = lines as [
      (typeof lines)[0],
      (typeof lines)[0],
      (typeof lines)[0],
      (typeof lines)[0],
      (typeof lines)[0],
    ];
    expect(plain.symbols).toMatchObject({
      channel: senml!.channel,
      publisher: senml!.publisher,
      name: senml!.name,
      value_kind: 'v',
    });
    expect(plain.symbols).not.toHaveProperty('subtopic'); // '' → NULL
    expect(Number(plain.fields.value)).toBe(senml!.value);
    expect(plain.fields.value).not.toMatch(/i$/); // a DOUBLE, not a LONG
    expect(plain.timestamp).toBe(String(BigInt(Math.round(senml!.time * 1e6)) * 1000n));
    expect(escaped.symbols.subtopic).toBe('a b,c=d');
    expect(stringField(escaped.fields.string_value)).toBe('say "hi",\nthen\\bye');
    expect(escaped.fields).toMatchObject({ sum_value: '1.5' });
    expect(escaped.symbols.value_kind).toBe('vs');
    expect(door.fields.bool_value).toBe('f');
    expect(door.symbols.value_kind).toBe('vb');
    expect(Buffer.from(stringField(whole.fields.payload)!, 'base64')).toEqual(Buffer.from(message!.payload));
    expect(whole.fields.payload_crc).toBe(`${crc32(message!.payload)}i`);
    expect(whole.timestamp).toBe(String(BigInt(message!.created) * 1_000_000n));
    expect(dead.symbols).toMatchObject({ error_code: 'type', content_type: 'application/senml+json' });
    expect(stringField(dead.fields.error_message)).toBe(invalid!.error.message);
    expect(p.stats()).toMatchObject({ writtenRows: 4, deadLettered: 1, retries: 0, state: 'ok' });
  });

  it('sends one request per batch and every line exactly once', async () => {
    const db = await fake();
    const p = pipeline(db.config);
    const rows = senmlRows(2000);
    for (let i = 0; i < 2000; i += 250) p.write(rows.slice(i, i + 250));
    await p.flush(5000);
    expect(db.writes.map((w) => w.lines.length)).toEqual([500, 500, 500, 500]);
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf(rows));
    expect(db.tableLines('omap_senml')).toHaveLength(2000);
  });

  it('encodes on its worker thread the same lines as on the event loop, also from encoded parts', async () => {
    const rows = [...senmlRows(300), ...messageRows(4)];
    const invalid = invalidMessages(2);
    const sent: string[][] = [];
    for (const encodeInWorker of [true, false]) {
      const db = await fake();
      const writer = new QuestDBWriter({ config: db.config, encodeInWorker });
      cleanups.push(() => writer.close());
      expect(writer.takesEncoded).toBe(encodeInWorker);
      await writer.write({ rows: rows.slice(0, 100), invalid, parts: [partOf(rows.slice(100))] });
      expect(writer.encodedOffThread).toBe(encodeInWorker ? 1 : 0);
      sent.push(db.writes.flatMap((w) => w.lines));
    }
    expect(sent[0]).toHaveLength(306);
    expect(sent[0]).toEqual(sent[1]);
  });

  it('refuses bytes the encoder thread cannot decode as a data error (the pipeline splits or quarantines)', async () => {
    const db = await fake();
    const writer = new QuestDBWriter({ config: db.config });
    cleanups.push(() => writer.close());
    const garbage = {
      rows: [],
      invalid: [],
      parts: [{ bytes: Uint8Array.from([0xc1]), rows: 1, invalid: 0 }],
    };
    await expect(writer.write(garbage)).rejects.toBeInstanceOf(BatchRejectedError);
    expect(db.writes).toHaveLength(0);
  });

  it('retries a 500, a reset connection and a refused connection, then writes each line once', async () => {
    const db = await fake();
    const p = pipeline(db.config);
    db.script.push('error', 'reset', 'error');
    const first = senmlRows(300);
    p.write(first);
    await p.flush(5000);
    expect(db.writes.map((w) => w.mode)).toEqual(['error', 'reset', 'error', 'ok']);
    expect(p.stats().retries).toBe(3);
    // The server goes away: connections are refused until it is back on the same port.
    const port = db.port;
    await db.stop();
    const second = senmlRows(300, { start: 1_760_000_000 });
    p.write(second);
    await once(p, 'retry');
    await once(p, 'retry');
    expect(p.stats().state).toBe('retrying');
    expect(p.stats().lastError).toMatch(/ECONNREFUSED/);
    await db.start(port);
    await p.flush(5000);
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf([...first, ...second]));
    expect(p.stats()).toMatchObject({ state: 'ok', lastError: null, writtenRows: 600 });
  });

  it('abandons a request that hangs (the server sees it cancelled) and re-sends it', async () => {
    const db = await fake();
    const p = pipeline(db.config, { flushTimeoutMs: 400 });
    db.script.push('hang');
    const aborted = once(db, 'aborted');
    const rows = senmlRows(100);
    p.write(rows);
    const [request] = await aborted;
    expect(request).toMatchObject({ mode: 'hang', aborted: true });
    await p.flush(5000);
    expect(p.stats().timeouts).toBeGreaterThanOrEqual(1);
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf(rows));
  });

  it('absorbs the late commit of an abandoned request: DEDUP keeps one row per key', async () => {
    const db = await fake();
    const p = pipeline(db.config, { flushTimeoutMs: 400 });
    db.script.push('commit-hang');
    const rows = senmlRows(100);
    p.write(rows);
    await p.flush(5000);
    expect(db.committedLines).toBeGreaterThanOrEqual(200); // the abandoned request landed too
    expect(db.tableLines('omap_senml')).toHaveLength(100); // ... and changed nothing
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf(rows)); // only the re-send was acknowledged
  });

  it('isolates a poison row (HTTP 400), quarantines it and writes every other row once', async () => {
    const db = await fake();
    const dir = spoolDir();
    const p = pipeline(db.config, { spoolDir: dir });
    const rows = senmlRows(500);
    const poison = { ...rows[123]!, name: 'poison' };
    rows[123] = poison;
    db.rejectIf = (line) => line.symbols.name === 'poison';
    p.write(rows);
    await p.flush(5000);
    expect(p.stats()).toMatchObject({ quarantinedRows: 1, writtenRows: 499, retries: 0 });
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf(rows.filter((r) => r !== poison)));
    expect(readdirSync(dir)).toContain('quarantine.jsonl');
  });

  it('spools a long outage, and a new writer over the same spool replays it in order after a restart', async () => {
    const db = await fake();
    const dir = spoolDir();
    db.mode = 'error';
    const first = pipeline(db.config, { spoolDir: dir });
    const batches = [0, 1, 2, 3].map((i) => senmlRows(400, { start: 1_770_000_000 + i * 100 }));
    for (const rows of batches) first.write(rows);
    await once(first, 'spilled');
    await first.close(); // the broker stops while QuestDB is still down
    expect(first.stats()).toMatchObject({ spoolRows: 1600, droppedRows: 0, writtenRows: 0 });
    expect(db.acknowledged).toEqual([]);

    db.mode = 'ok';
    const second = pipeline(db.config, { spoolDir: dir });
    expect(second.stats().spoolRows).toBe(1600);
    await second.flush(5000);
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf(batches.flat()));
    expect(second.stats()).toMatchObject({
      spoolRecords: 0,
      spoolBytes: 0,
      replayedBatches: 4,
      writtenRows: 1600,
    });
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg'))).toEqual([]);
  });

  it('cuts a torn record off the spool after a crash and never sends garbage', async () => {
    const db = await fake();
    const dir = spoolDir();
    db.mode = 'error';
    const first = pipeline(db.config, { spoolDir: dir, spillAfterMs: 0, batchRows: 300 });
    const batches = [0, 1, 2].map((i) => senmlRows(300, { start: 1_780_000_000 + i * 100 }));
    for (const rows of batches) first.write(rows);
    await first.close();
    expect(first.stats().spoolRecords).toBe(3);
    // A crash in the middle of the last append: its record is cut short.
    const segment = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg'))!);
    truncateSync(segment, statSync(segment).size - 1234);

    db.mode = 'ok';
    const second = pipeline(db.config, { spoolDir: dir });
    expect(second.stats()).toMatchObject({ spoolRecords: 2, spoolRows: 600 });
    expect(second.stats().truncatedBytes).toBeGreaterThan(0);
    await second.flush(5000);
    expect(db.acknowledged.map(lineKey)).toEqual(keysOf([...batches[0]!, ...batches[1]!]));
    for (const raw of db.acknowledged) expect(() => parseIlpLine(raw)).not.toThrow();
  });
});
