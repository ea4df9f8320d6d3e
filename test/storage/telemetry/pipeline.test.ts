/**
 * The loss-free pipeline over a scripted in-memory store, on a manual clock: batching, backoff, time-box,
 * bisection of refused batches, spill to the spool on long outages and memory pressure, replay in order,
 * backpressure and counted drops, close and restart.
 */
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Row } from '../../../codecs/index.js';
import { encodeBatch } from '../../../storage/telemetry/batch-codec.js';
import { type PipelineOptions, TelemetryPipeline } from '../../../storage/telemetry/pipeline.js';
import { DiskSpool } from '../../../storage/telemetry/spool.js';
import { FlushTimeoutError } from '../../../storage/telemetry/types.js';
import { ManualClock, ScriptedStore, senmlRows, tempDir } from './fixtures.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  pipeline: TelemetryPipeline;
  store: ScriptedStore;
  clock: ManualClock;
  spoolDir: string;
}

function setup(
  options: Partial<PipelineOptions> = {},
  spoolDir?: string,
  configure?: (store: ScriptedStore) => void,
): Setup {
  const clock = new ManualClock();
  const store = new ScriptedStore();
  configure?.(store);
  let dir = spoolDir;
  if (dir === undefined) {
    const t = tempDir('omap-pipeline-');
    cleanups.push(t.remove);
    dir = t.dir;
  }
  const pipeline = new TelemetryPipeline({
    store,
    spoolDir: dir,
    clock,
    random: () => 1,
    batchRows: 100,
    lingerMs: 50,
    flushTimeoutMs: 1000,
    backoff: { baseMs: 100, maxMs: 1000 },
    spillAfterMs: 5000,
    closeTimeoutMs: 500,
    spool: { fsync: 'never' },
    ...options,
  });
  cleanups.push(async () => {
    const closing = pipeline.close();
    // close() waits for its deadline on the manual clock when something is still pending.
    for (let i = 0; i < 100 && clock.pending > 0; i++) {
      clock.advance(clock.nextIn);
      await turn();
    }
    await closing;
  });
  return { pipeline, store, clock, spoolDir: dir };
}

/** Lets the pipeline's promises run (one macrotask turn). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs the clock timer by timer until `done()` holds (bounded). */
async function pump(clock: ManualClock, done: () => boolean, maxSteps = 10_000): Promise<void> {
  for (let step = 0; step < maxSteps; step++) {
    await turn();
    if (done()) return;
    const next = clock.nextIn;
    if (next !== Number.POSITIVE_INFINITY) clock.advance(next);
  }
  throw new Error('pump: condition not reached');
}

const seqOf = (row: Row): number => (row.kind === 'senml' ? Math.round(row.time * 1e6) : row.created);

describe('TelemetryPipeline', () => {
  it('cuts batches by size, sends a partial batch after lingerMs, and flush() waits for the store', async () => {
    const { pipeline, store, clock } = setup();
    const rows = senmlRows(250);
    expect(pipeline.write(rows)).toBeUndefined();
    await pump(clock, () => store.written.length === 2, 5);
    expect(store.written.map((b) => b.rows.length)).toEqual([100, 100]);
    expect(pipeline.stats().memoryRows).toBe(50);
    clock.advance(49);
    await turn();
    expect(store.written).toHaveLength(2);
    clock.advance(1);
    await pump(clock, () => store.written.length === 3);
    expect(store.rows()).toEqual(rows);
    await pipeline.flush();
    expect(pipeline.stats()).toMatchObject({
      acceptedRows: 250,
      writtenRows: 250,
      writtenBatches: 3,
      lagMs: 0,
    });
  });

  it('lets rows that arrive during a write grow the next batch instead of sending many small ones', async () => {
    const { pipeline, store, clock } = setup();
    let release!: () => void;
    store.script.push('hang');
    store.onAttempt = (_b, behaviour) => {
      if (behaviour === 'hang') {
        // Replace the hang by a gate the test opens.
        store.onAttempt = null;
      }
    };
    const gate = new Promise<void>((resolve) => (release = resolve));
    const write = store.write.bind(store);
    store.write = async (batch) => {
      if (store.attempts === 0) {
        store.attempts++;
        await gate;
        store.written.push(batch);
        return;
      }
      return write(batch);
    };
    pipeline.write(senmlRows(10));
    clock.advance(50); // linger: the first 10 rows go out (and hang at the gate)
    await turn();
    for (let i = 0; i < 3; i++) pipeline.write(senmlRows(10, { start: 2e9 + i }));
    clock.advance(500);
    release();
    await pump(clock, () => store.written.length === 2);
    expect(store.written.map((b) => b.rows.length)).toEqual([10, 30]);
  });

  it('retries failures with exponential backoff and jitter, and reports them', async () => {
    const { pipeline, store, clock } = setup();
    store.script.push('fail', 'fail', 'fail');
    const delays: number[] = [];
    pipeline.on('retry', (r) => delays.push(r.delayMs));
    pipeline.write(senmlRows(100));
    await pump(clock, () => store.written.length === 1);
    expect(delays).toEqual([100, 200, 400]);
    expect(pipeline.stats()).toMatchObject({ retries: 3, writtenRows: 100, state: 'ok', lastError: null });
  });

  it('time-boxes a write that never settles, abandons it and re-sends the same batch', async () => {
    const { pipeline, store, clock } = setup();
    store.script.push('hang');
    const retry = once(pipeline, 'retry');
    const rows = senmlRows(100);
    pipeline.write(rows);
    await turn();
    expect(store.attempts).toBe(1);
    clock.advance(999);
    await turn();
    expect(store.abandoned).toBe(0);
    clock.advance(1);
    const [event] = await retry;
    expect(event).toMatchObject({ timedOut: true, attempt: 1 });
    expect(store.abandoned).toBe(1);
    await pump(clock, () => store.written.length === 1);
    expect(store.written[0]!.rows).toEqual(rows);
    expect(pipeline.stats()).toMatchObject({ timeouts: 1, retries: 1 });
  });

  it('splits a refused batch until the poison row is isolated, quarantines it, writes the rest in order', async () => {
    const { pipeline, store, clock, spoolDir } = setup();
    const rows = senmlRows(100);
    const poison = rows[37]!;
    store.rejectRow = (row) => row === poison;
    pipeline.write(rows);
    const [quarantined] = await Promise.all([
      once(pipeline, 'quarantined'),
      pump(clock, () => pipeline.stats().writtenRows === 99),
    ]);
    expect(quarantined[0]).toMatchObject({ rows: 1 });
    expect(store.rows()).toEqual(rows.filter((r) => r !== poison));
    const stats = pipeline.stats();
    expect(stats.quarantinedRows).toBe(1);
    expect(stats.rejectedBatches).toBe(7); // the halves holding the poison row: 100, 50, 25, 13, 6, 3, 1
    expect(stats.retries).toBe(0);
    const lines = readFileSync(join(spoolDir, 'quarantine.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).rows).toEqual([JSON.parse(JSON.stringify(poison))]);
  });

  it('spools batches once an outage lasts spillAfterMs and replays them in order when the store is back', async () => {
    const { pipeline, store, clock } = setup();
    store.mode = 'fail';
    const spilled: string[] = [];
    pipeline.on('spilled', (e) => spilled.push(e.reason));
    const all: Row[] = [];
    for (let i = 0; i < 12; i++) {
      const rows = senmlRows(60, { start: 1.8e9 + i * 10 });
      all.push(...rows);
      pipeline.write(rows);
      clock.advance(1000);
      await turn();
    }
    const stats = pipeline.stats();
    expect(spilled[0]).toBe('outage');
    expect(stats.state).toBe('spooling');
    expect(stats.spoolRows).toBeGreaterThan(500);
    // The batch being retried (its copy is in the spool too) and at most one open batch.
    expect(stats.memoryRows).toBeLessThanOrEqual(200);
    expect(stats.lagMs).toBeGreaterThanOrEqual(11_000);
    store.mode = 'ok';
    await pump(clock, () => pipeline.stats().writtenRows === all.length);
    expect(store.rows().map(seqOf)).toEqual(all.map(seqOf));
    expect(pipeline.stats()).toMatchObject({ spoolRecords: 0, spoolBytes: 0, state: 'ok', memoryRows: 0 });
    expect(pipeline.stats().replayedBatches).toBeGreaterThan(0);
  });

  it('takes rows in byte form (writeEncoded) beside row objects, in order, and counts them', async () => {
    const { pipeline, store, clock } = setup();
    const a = senmlRows(30, { start: 1.1e9 });
    const b = senmlRows(50, { start: 1.2e9 });
    const c = senmlRows(40, { start: 1.3e9 });
    pipeline.write(a);
    expect(
      pipeline.writeEncoded({ bytes: encodeBatch({ rows: b, invalid: [] }), rows: 50, invalid: 0 }),
    ).toBe(undefined);
    pipeline.write(c); // 120 items: the batch is sealed at 100 or more
    await pump(clock, () => pipeline.stats().writtenRows === 120);
    expect(store.rows().map(seqOf).sort()).toEqual([...a, ...b, ...c].map(seqOf).sort());
    expect(pipeline.stats()).toMatchObject({ acceptedRows: 120, writtenRows: 120, memoryRows: 0 });
    expect(pipeline.writeEncoded({ bytes: new Uint8Array(0), rows: 0, invalid: 0 })).toBeUndefined();
  });

  it('spools encoded parts through an outage and a restart, and replays their rows', async () => {
    const first = setup();
    first.store.mode = 'fail';
    const rows = senmlRows(70, { start: 2.4e9 });
    first.pipeline.writeEncoded({
      bytes: encodeBatch({ rows: rows.slice(0, 35), invalid: [] }),
      rows: 35,
      invalid: 0,
    });
    first.pipeline.write(rows.slice(35));
    await turn();
    const closing = first.pipeline.close();
    await pump(first.clock, () => first.pipeline.stats().state === 'closed');
    await closing;
    expect(first.pipeline.stats()).toMatchObject({ spoolRows: 70, droppedRows: 0 });
    expect(first.pipeline.writeEncoded({ bytes: new Uint8Array(1), rows: 3, invalid: 1 })).toBeUndefined();
    expect(first.pipeline.stats().rejectedClosed).toBe(4);

    // spooled records are handed on as bytes, not decoded and re-encoded
    const second = setup({}, first.spoolDir, (store) => {
      store.takesEncoded = true;
    });
    await pump(second.clock, () => second.pipeline.stats().writtenRows === 70);
    expect(second.store.rows().map(seqOf).sort()).toEqual(rows.map(seqOf).sort());
    expect(second.store.received.every((b) => b.rows.length === 0 && b.parts?.length === 1)).toBe(true);
  });

  it('sets a spooled record that does not decode aside (quarantine, counted) and goes on', async () => {
    const first = setup();
    first.store.mode = 'fail';
    const rows = senmlRows(20, { start: 2.5e9 });
    first.pipeline.writeEncoded({ bytes: encodeBatch({ rows, invalid: [] }), rows: 20, invalid: 0 });
    // garbage: what another version's bytes would look like
    first.pipeline.writeEncoded({ bytes: Uint8Array.from([0xc1, 0xc1]), rows: 5, invalid: 0 });
    await turn();
    const closing = first.pipeline.close();
    await pump(first.clock, () => first.pipeline.stats().state === 'closed');
    await closing;

    const second = setup({}, first.spoolDir, (store) => {
      store.takesEncoded = true;
    });
    // the record (both parts joined) is refused by the store, cannot be split, and is kept aside as it is
    await pump(second.clock, () => second.pipeline.stats().corruptRecords === 1);
    expect(second.pipeline.stats()).toMatchObject({ writtenRows: 0, rejectedBatches: 1, spoolRecords: 0 });
    expect(readFileSync(join(first.spoolDir, 'quarantine.jsonl'), 'utf8')).toContain('not msgpack');
    const later = senmlRows(3, { start: 2.6e9 });
    second.pipeline.write(later);
    await pump(second.clock, () => second.pipeline.stats().writtenRows === 3);
    expect(second.store.rows().map(seqOf)).toEqual(later.map(seqOf));
  });

  it('spills to the spool past the memory bound, keeping the order', async () => {
    const { pipeline, store, clock } = setup({ maxMemoryRows: 250, batchRows: 50 });
    store.mode = 'fail';
    const all: Row[] = [];
    for (let i = 0; i < 10; i++) {
      const rows = senmlRows(50, { start: 1.9e9 + i * 10 });
      all.push(...rows);
      pipeline.write(rows);
      await turn();
    }
    const stats = pipeline.stats();
    expect(stats.spilledBatches).toBeGreaterThan(0);
    expect(stats.memoryRows).toBeLessThanOrEqual(250);
    expect(stats.spoolRows + stats.memoryRows).toBeGreaterThanOrEqual(500);
    store.mode = 'ok';
    await pump(clock, () => pipeline.stats().writtenRows === all.length);
    expect(store.rows().map(seqOf)).toEqual(all.map(seqOf));
  });

  it('applies backpressure when memory and spool are full, and drops (counted) past twice the bound', async () => {
    const { pipeline, store, clock } = setup({
      maxMemoryRows: 200,
      batchRows: 50,
      spool: { maxBytes: 1, fsync: 'never' },
    });
    store.mode = 'fail';
    const dropped: number[] = [];
    pipeline.on('dropped', (e) => dropped.push(e.rows));
    const results: Array<undefined | Promise<void>> = [];
    for (let i = 0; i < 10; i++) {
      results.push(pipeline.write(senmlRows(50, { start: 2.1e9 + i * 10 })));
      await turn();
    }
    expect(results.slice(0, 4).every((r) => r === undefined)).toBe(true);
    const pressure = results[4]!;
    expect(results.slice(4, 8).every((r) => r instanceof Promise)).toBe(true);
    const stats = pipeline.stats();
    expect(stats.memoryRows).toBe(400); // twice maxMemoryRows: the hard bound
    expect(stats.droppedRows).toBe(100);
    expect(dropped).toEqual([50, 50]);
    store.mode = 'ok';
    await pump(clock, () => pipeline.stats().writtenRows === 400);
    await pressure;
    expect(pipeline.stats()).toMatchObject({ acceptedRows: 400, writtenRows: 400, droppedRows: 100 });
  });

  it('bounds flush() with a timeout during an outage without losing rows, and reports the lag', async () => {
    const { pipeline, store, clock } = setup();
    store.mode = 'fail';
    pipeline.write(senmlRows(10));
    const flushed = pipeline.flush(2000);
    const outcome = flushed.then(
      () => 'flushed',
      (e: unknown) => e,
    );
    await pump(clock, () => clock.now() >= 1_750_000_002_000, 100);
    expect(await outcome).toBeInstanceOf(FlushTimeoutError);
    expect(pipeline.stats().lagMs).toBeGreaterThanOrEqual(2000);
    expect(pipeline.stats().state).toBe('retrying');
    store.mode = 'ok';
    const again = pipeline.flush();
    await pump(clock, () => store.written.length === 1);
    await again;
    expect(store.rows()).toHaveLength(10);
  });

  it('spools what is pending at close and a new instance replays it (and nothing it already wrote)', async () => {
    const first = setup();
    first.store.script.push('ok');
    const written = senmlRows(100, { start: 2.2e9 });
    first.pipeline.write(written);
    await pump(first.clock, () => first.store.written.length === 1);
    first.store.mode = 'fail';
    const pending = senmlRows(230, { start: 2.3e9 });
    first.pipeline.write(pending);
    await turn();
    const closing = first.pipeline.close();
    await pump(first.clock, () => first.pipeline.stats().state === 'closed');
    await closing;
    expect(first.pipeline.stats()).toMatchObject({ spoolRows: 230, droppedRows: 0 });
    expect(first.pipeline.write(senmlRows(5))).toBeUndefined();
    expect(first.pipeline.stats().rejectedClosed).toBe(5);

    const second = setup({}, first.spoolDir);
    expect(second.pipeline.stats()).toMatchObject({ spoolRecords: 3, spoolRows: 230 });
    await pump(second.clock, () => second.pipeline.stats().writtenRows === 230);
    expect(second.store.rows().map(seqOf)).toEqual(pending.map(seqOf));
    expect(second.pipeline.stats().replayedBatches).toBe(3);
    await second.pipeline.flush();
    expect(existsSync(join(first.spoolDir, 'cursor'))).toBe(false);
  });

  it('recovers a spool left by a crash with a torn last record: replays the rest, never the torn batch', async () => {
    const first = setup({ spillAfterMs: 0 });
    first.store.mode = 'fail';
    const batches = [0, 1, 2].map((i) => senmlRows(100, { start: 2.4e9 + i * 10 }));
    for (const rows of batches) first.pipeline.write(rows);
    await pump(first.clock, () => first.pipeline.stats().spoolRecords === 3, 50);
    // The "crash": what is on disk now, copied aside; the torn last record is simulated by cutting the segment.
    const copy = tempDir('omap-pipeline-crash-');
    cleanups.push(copy.remove);
    cpSync(first.spoolDir, copy.dir, { recursive: true });
    rmSync(join(copy.dir, 'spool.lock'));
    const segment = join(copy.dir, '00000000000000000001.seg');
    const size = readFileSync(segment).length;
    const { truncateSync } = await import('node:fs');
    truncateSync(segment, size - 100);
    const second = setup({}, copy.dir);
    expect(second.pipeline.stats()).toMatchObject({ spoolRecords: 2, truncatedBytes: expect.any(Number) });
    expect(second.pipeline.stats().truncatedBytes).toBeGreaterThan(0);
    await pump(second.clock, () => second.pipeline.stats().writtenRows === 200);
    expect(second.store.rows().map(seqOf)).toEqual([...batches[0]!, ...batches[1]!].map(seqOf));
  });

  it('moves a spool record that does not decode to the quarantine file and goes on', async () => {
    const t = tempDir('omap-pipeline-garbage-');
    cleanups.push(t.remove);
    const spool = DiskSpool.open({ dir: t.dir });
    spool.append({ seq: 1, acceptedAt: 1, rows: 3, data: Buffer.from('not a batch') });
    const good = senmlRows(3);
    spool.append({ seq: 2, acceptedAt: 2, rows: 3, data: encodeBatch({ rows: good, invalid: [] }) });
    await spool.close();
    const { pipeline, store, clock } = setup({}, t.dir);
    await pump(clock, () => store.written.length === 1);
    expect(store.rows()).toEqual(good);
    expect(pipeline.stats()).toMatchObject({ corruptRecords: 1, spoolRecords: 0 });
    const [line] = readFileSync(join(t.dir, 'quarantine.jsonl'), 'utf8').trim().split('\n');
    expect(Buffer.from(JSON.parse(line!).spoolRecord, 'base64').toString()).toBe('not a batch');
  });

  it('survives an event listener that throws', async () => {
    const { pipeline, store, clock } = setup();
    let thrown = 0;
    pipeline.on('written', () => {
      if (thrown++ === 0) throw new Error('listener bug');
    });
    pipeline.write(senmlRows(100));
    pipeline.write(senmlRows(100, { start: 2.5e9 }));
    await pump(clock, () => pipeline.stats().writtenRows === 200);
    expect(store.written).toHaveLength(2);
    expect(thrown).toBe(2);
  });
});
