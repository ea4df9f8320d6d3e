/** The embedded history: transactions, idempotent re-writes, dead letters, retention by age and by count. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openTelemetry } from '../../../storage/telemetry/index.js';
import { parseMessageQuery } from '../../../storage/telemetry/query.js';
import { SqliteHistory, type SqliteHistoryOptions } from '../../../storage/telemetry/sqlite-history.js';
import { WorkerSqliteHistory } from '../../../storage/telemetry/sqlite-worker-history.js';
import { newThreads, SCHED_IDLE, threadScheduling } from '../../thread-stat.js';
import { invalidMessages, ManualClock, messageRows, senmlRows, tempDir } from './fixtures.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function history(options: Partial<SqliteHistoryOptions> = {}): SqliteHistory {
  const t = tempDir('omap-history-');
  cleanups.push(t.remove);
  const h = new SqliteHistory({ path: join(t.dir, 'telemetry.sqlite'), ...options });
  cleanups.push(() => h.close());
  return h;
}

const DAY = 86_400_000;

describe('SqliteHistory', () => {
  it('writes a batch in one transaction and a re-sent batch never duplicates', async () => {
    const h = history();
    const batch = { rows: [...senmlRows(500), ...messageRows(20)], invalid: invalidMessages(3) };
    await h.write(batch);
    await h.write(batch);
    expect(h.counts()).toEqual({ senml: 500, messages: 20, dead_letter: 3 });
  });

  it('keeps two different payloads of one publisher in the same millisecond', async () => {
    const h = history();
    const [a] = messageRows(1);
    await h.write({ rows: [a!, { ...a!, payload: Buffer.from('other bytes') }], invalid: [] });
    expect(h.counts().messages).toBe(2);
  });

  it('deletes rows older than maxAgeMs when its timer fires', async () => {
    const clock = new ManualClock(1_750_000_000_000);
    const h = history({ clock, retention: { maxAgeMs: 30 * DAY, maxRows: 0, intervalMs: 60_000 } });
    const nowS = clock.now() / 1000;
    await h.write({ rows: senmlRows(100, { start: nowS - 40 * 86_400 }), invalid: [] });
    await h.write({ rows: senmlRows(50, { start: nowS - 86_400 }), invalid: [] });
    await h.write({ rows: messageRows(10, { created: clock.now() - 31 * DAY }), invalid: [] });
    expect(clock.pending).toBe(1);
    clock.advance(60_000);
    const result = await h.enforceRetention(); // joins the run the timer started
    expect(result.deletedByAge).toBe(110);
    expect(h.counts()).toEqual({ senml: 50, messages: 0, dead_letter: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.pending).toBe(1); // rescheduled after the run
  });

  it('keeps at most maxRows per table, deleting the oldest inserted, in chunks', async () => {
    const h = history({ retention: { maxAgeMs: 0, maxRows: 1000, intervalMs: 0, chunkRows: 128 } });
    const first = senmlRows(700, { start: 1_800_000_000 });
    const second = senmlRows(800, { start: 1_700_000_000 }); // older times, inserted later: kept
    await h.write({ rows: first, invalid: [] });
    expect(await h.enforceRetention()).toEqual({ deletedByAge: 0, deletedByCount: 0 });
    await h.write({ rows: second, invalid: [] });
    expect(await h.enforceRetention()).toEqual({ deletedByAge: 0, deletedByCount: 500 });
    expect(h.counts().senml).toBe(1000);
    const page = await h.readSenML('c0a8e3f2-5b1d-4c6e-9f7a-2d4b6e8f0a1c', {
      format: 'senml',
      fromUs: null,
      toUs: null,
      subtopic: null,
      publisher: null,
      name: null,
      limit: 10_000,
      offset: 0,
      order: 'asc',
      aggregation: null,
    });
    expect(page.total).toBe(1000);
    expect(page.items.filter((m) => m.time >= 1_800_000_000)).toHaveLength(200);
  });

  it('runs on a worker thread with the same answers, and restarts after abandon()', async () => {
    const t = tempDir('omap-history-worker-');
    cleanups.push(t.remove);
    const inThread = history();
    const worker = new WorkerSqliteHistory({
      path: join(t.dir, 'telemetry.sqlite'),
      retention: { intervalMs: 0 },
    });
    cleanups.push(() => worker.close());
    const batch = { rows: [...senmlRows(300), ...messageRows(5)], invalid: invalidMessages(2) };
    await Promise.all([worker.write(batch), inThread.write(batch)]);
    expect(await worker.counts()).toEqual({ senml: 300, messages: 5, dead_letter: 2 });
    const channel = batch.rows[0]!.channel;
    for (const params of [{ limit: '20' }, { aggregation: 'avg', interval: '1m' }, { format: 'payload' }]) {
      const query = parseMessageQuery(params);
      const read = (h: SqliteHistory | WorkerSqliteHistory) =>
        query.aggregation !== null
          ? h.aggregate(channel, query)
          : query.format === 'payload'
            ? h.readPayloads(channel, query)
            : h.readSenML(channel, query);
      expect(await read(worker)).toEqual(await read(inThread));
    }
    const pending = worker.counts();
    worker.abandon();
    await expect(pending).rejects.toThrow(/abandoned/);
    await worker.write({ rows: senmlRows(10, { start: 1_900_000_000 }), invalid: [] }); // a fresh worker
    expect((await worker.counts()).senml).toBe(310);
  });

  it.runIf(process.platform === 'linux')(
    'runs its worker thread below the broker: nice 19 and SCHED_IDLE by default',
    async () => {
      const t = tempDir('omap-history-priority-');
      cleanups.push(t.remove);
      const before = threadScheduling();
      const worker = new WorkerSqliteHistory({
        path: join(t.dir, 'telemetry.sqlite'),
        retention: { intervalMs: 0 },
      });
      cleanups.push(() => worker.close());
      await worker.write({ rows: senmlRows(10), invalid: [] }); // the thread has started and lowered itself
      const fresh = newThreads(before, threadScheduling());
      expect(fresh.filter((th) => th.policy === SCHED_IDLE && th.nice === 19)).toHaveLength(1);
      expect(threadScheduling().get(process.pid)).toEqual(before.get(process.pid));
    },
  );

  it('is the default of openTelemetry: <dataDir>/telemetry.sqlite in WAL mode, written through the pipeline', async () => {
    const t = tempDir('omap-data-');
    cleanups.push(t.remove);
    const telemetry = await openTelemetry({ dataDir: t.dir });
    cleanups.push(() => telemetry.close());
    expect(telemetry.store).toBe('sqlite');
    const rows = senmlRows(2500);
    telemetry.sink.write(rows, invalidMessages(2));
    await telemetry.sink.flush(10_000);
    expect(telemetry.sink.stats()).toMatchObject({ writtenRows: 2500, deadLettered: 2, writtenBatches: 1 });
    const page = await telemetry.reader.readMessages(rows[0]!.channel, { limit: '5' });
    expect(page.total).toBe(2500);
    expect(page.messages).toHaveLength(5);
    expect(existsSync(join(t.dir, 'telemetry.sqlite-wal'))).toBe(true);
    await telemetry.close();
    expect(existsSync(join(t.dir, 'telemetry-spool'))).toBe(true);
  });
});
