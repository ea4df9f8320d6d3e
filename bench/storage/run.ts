/**
 * Telemetry storage benchmarks (not timed tests):
 *
 *   npx tsx bench/storage/run.ts [--rows 200000] [--outage-seconds 60] [--rate 20000] [--outage-mode error|hang]
 *                                [--only baseline,embedded,embedded-main,loopback,outage]
 *
 * 1. embedded store: sustained rows/s through the pipeline into SQLite (WAL, one transaction per batch), on its
 *    worker thread (the default) and on the main thread (`history.thread: 'main'`);
 * 2. loopback QuestDB endpoint (a separate process speaking /write): sustained rows/s of the writer alone;
 * 3. outage: rows keep arriving at --rate while the endpoint answers 500 (or hangs) for --outage-seconds, then
 *    recovers; reports peak RSS/heap, peak spool size, time to drain, and whether every row arrived.
 * Each scenario runs in its own process (clean memory numbers). Rows are realistic SenML rows fed in
 * codec-pool-sized chunks with a yield after each chunk, so the event-loop delay shows how long storage blocks
 * the loop.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventLoopUtilization, monitorEventLoopDelay, performance as perf } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openTelemetry, type Telemetry } from '../../storage/telemetry/index.js';
import { senmlRows } from '../../test/storage/telemetry/fixtures.js';
import { type FakeProcess, startFake } from './loopback-questdb.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    'outage-seconds': { type: 'string', default: '60' },
    rate: { type: 'string', default: '20000' },
    'outage-mode': { type: 'string', default: 'error' },
    only: { type: 'string', default: 'baseline,embedded,embedded-main,loopback,outage' },
    scenario: { type: 'string' },
  },
});
const ROWS = Number(values.rows);
const OUTAGE_MS = Number(values['outage-seconds']) * 1000;
const RATE = Number(values.rate);
const OUTAGE_MODE = values['outage-mode'] === 'hang' ? 'hang' : 'error';
const CHUNK = 1024;

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (ns: number): string => `${(ns / 1e6).toFixed(1)} ms`;
const report = (name: string, value: string): void => {
  console.log(`${name.padEnd(60)} ${value}`);
};

/**
 * Event-loop delay (1 ms resolution), utilization (share of time the loop was busy) and the longest garbage
 * collection pause over a stretch of work.
 */
function loopMonitor(): { stop(): string } {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const start: EventLoopUtilization = perf.eventLoopUtilization();
  let longestGc = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longestGc = Math.max(longestGc, entry.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  delay.enable();
  return {
    stop() {
      delay.disable();
      gc.disconnect();
      const elu = perf.eventLoopUtilization(start);
      const busy = `busy ${(elu.utilization * 100).toFixed(0)} %`;
      const delays = `delay p99 ${ms(delay.percentile(99) - 1e6)}, max ${ms(delay.max - 1e6)}`;
      return `${busy}, ${delays}, longest GC ${longestGc.toFixed(0)} ms`;
    },
  };
}

function temp(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'omap-bench-storage-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Feeds `total` rows in codec-pool-sized chunks, yielding to the event loop after each (the pool delivers async). */
async function feed(telemetry: Telemetry, total: number, start: number): Promise<void> {
  for (let sent = 0; sent < total; sent += CHUNK) {
    const rows = senmlRows(Math.min(CHUNK, total - sent), { start: start + sent });
    const pressure = telemetry.sink.write(rows);
    if (pressure) await pressure;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function benchEmbedded(thread: 'worker' | 'main'): Promise<void> {
  const t = temp();
  const telemetry = await openTelemetry({
    dataDir: t.dir,
    history: { thread, retention: { intervalMs: 0 } },
  });
  const label = `embedded SQLite, ${thread} thread`;
  try {
    await feed(telemetry, 20_000, 1_600_000_000); // warm-up
    await telemetry.sink.flush();
    const loop = loopMonitor();
    const t0 = performance.now();
    await feed(telemetry, ROWS, 1_700_000_000);
    await telemetry.sink.flush();
    const seconds = (performance.now() - t0) / 1000;
    const loopUse = loop.stop();
    report(`${label}: rows/s (pipeline + store)`, fmt(ROWS / seconds));
    report(`${label}: main event loop`, loopUse);
    const channel = senmlRows(1)[0]!.channel;
    const q0 = performance.now();
    const latest = await telemetry.reader.readMessages(channel, { limit: '100' });
    const q1 = performance.now();
    await telemetry.reader.readMessages(channel, { aggregation: 'avg', interval: '1m' });
    const q2 = performance.now();
    report(
      `${label}: read newest 100 / avg per 1m (${fmt(latest.total)} rows)`,
      `${(q1 - q0).toFixed(1)} ms / ${(q2 - q1).toFixed(1)} ms`,
    );
  } finally {
    await telemetry.close();
    t.remove();
  }
}

async function benchLoopback(fake: FakeProcess): Promise<void> {
  const t = temp();
  const telemetry = await openTelemetry({ dataDir: t.dir, questdb: `http::addr=127.0.0.1:${fake.port}` });
  try {
    await feed(telemetry, 50_000, 1_600_000_000); // warm-up, table creation
    await telemetry.sink.flush();
    const before = await fake.stats();
    const loop = loopMonitor();
    const t0 = performance.now();
    await feed(telemetry, ROWS * 2, 1_700_000_000);
    await telemetry.sink.flush();
    const seconds = (performance.now() - t0) / 1000;
    const loopUse = loop.stop();
    const after = await fake.stats();
    report('loopback QuestDB: rows/s (pipeline + ILP/HTTP writer)', fmt((ROWS * 2) / seconds));
    report(
      'loopback QuestDB: rows per request',
      fmt((after.acknowledged - before.acknowledged) / (after.requests - before.requests)),
    );
    report('loopback QuestDB: main event loop', loopUse);
  } finally {
    await telemetry.close();
    t.remove();
  }
}

async function benchOutage(fake: FakeProcess): Promise<void> {
  const t = temp();
  const telemetry = await openTelemetry({
    dataDir: t.dir,
    // request_timeout above the time-box: with a hanging server, the time-box is what ends each attempt.
    questdb: `http::addr=127.0.0.1:${fake.port};request_timeout=60000`,
    pipeline: { flushTimeoutMs: 10_000 },
  });
  let peakRss = 0;
  let peakHeap = 0;
  let peakSpool = 0;
  let peakSpoolRecords = 0;
  let peakMemoryRows = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    const s = telemetry.sink.stats();
    peakSpool = Math.max(peakSpool, s.spoolBytes);
    peakSpoolRecords = Math.max(peakSpoolRecords, s.spoolRecords);
    peakMemoryRows = Math.max(peakMemoryRows, s.memoryRows);
  };
  try {
    await feed(telemetry, 20_000, 1_500_000_000);
    await telemetry.sink.flush();
    const base = await fake.stats();
    const baseAccepted = telemetry.sink.stats().acceptedRows;
    global.gc?.();
    const baseline = process.memoryUsage();
    const sampler = setInterval(sample, 100);
    const outageLoop = loopMonitor();
    // Rows keep arriving at RATE during the outage and the recovery.
    let produced = 0;
    let next = 1_800_000_000;
    const tick = 10;
    const producer = setInterval(() => {
      const n = Math.round((RATE * tick) / 1000);
      telemetry.sink.write(senmlRows(n, { start: next }));
      next += n;
      produced += n;
    }, tick);
    await fake.mode(OUTAGE_MODE);
    const outageStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const atRecovery = telemetry.sink.stats();
    const outageLoopUse = outageLoop.stop();
    // What the outage really holds on to (garbage collected first, when run with --expose-gc as the scenarios are).
    global.gc?.();
    const retained = process.memoryUsage();
    const recoveryLoop = loopMonitor();
    await fake.mode('ok');
    const recovered = performance.now();
    // Drained: everything produced before recovery is in the store.
    const target = base.acknowledged + atRecovery.acceptedRows - baseAccepted;
    let drainedAt = 0;
    while (drainedAt === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if ((await fake.stats()).acknowledged >= target) drainedAt = performance.now();
      if (performance.now() - recovered > 300_000) break;
    }
    clearInterval(producer);
    await telemetry.sink.flush(120_000);
    clearInterval(sampler);
    const recoveryLoopUse = recoveryLoop.stop();
    sample();
    const final = telemetry.sink.stats();
    const acknowledged = (await fake.stats()).acknowledged - base.acknowledged;
    report(
      `outage (${OUTAGE_MODE}, ${(OUTAGE_MS / 1000).toFixed(0)} s at ${fmt(RATE)} rows/s): rows produced`,
      fmt(produced),
    );
    report(
      'outage: rows acknowledged by the endpoint after it',
      `${fmt(acknowledged)} (dropped ${final.droppedRows}, lost ${produced - acknowledged})`,
    );
    report(
      'outage: peak RSS / heap (baseline)',
      `${mb(peakRss)} / ${mb(peakHeap)} (${mb(baseline.rss)} / ${mb(baseline.heapUsed)})`,
    );
    report(
      'outage: heap / RSS after a GC at the end of the outage',
      `${mb(retained.heapUsed)} / ${mb(retained.rss)}`,
    );
    report('outage: peak rows in memory (bound: 100,000)', fmt(peakMemoryRows));
    report('outage: peak spool size', `${mb(peakSpool)} in ${peakSpoolRecords} records`);
    report('outage: lag at recovery', `${(atRecovery.lagMs / 1000).toFixed(1)} s`);
    report(
      'outage: time to drain after recovery',
      drainedAt === 0 ? 'not drained in 300 s' : `${((drainedAt - recovered) / 1000).toFixed(1)} s`,
    );
    report('outage: retries / time-outs during the outage', `${final.retries} / ${final.timeouts}`);
    report('outage: main event loop during the outage (producer included)', outageLoopUse);
    report('outage: main event loop during the drain (producer included)', recoveryLoopUse);
    report('outage: total duration', `${((performance.now() - outageStart) / 1000).toFixed(1)} s`);
  } finally {
    await telemetry.close();
    t.remove();
  }
}

/** The feed loop alone (rows generated, written nowhere): what the other loop numbers include anyway. */
async function benchBaseline(): Promise<void> {
  const sink = { write: () => undefined } as unknown as Telemetry['sink'];
  const loop = loopMonitor();
  const t0 = performance.now();
  await feed({ sink } as Telemetry, ROWS, 1_700_000_000);
  const seconds = (performance.now() - t0) / 1000;
  report('baseline (rows generated, not stored): rows/s', fmt(ROWS / seconds));
  report('baseline: main event loop', loop.stop());
}

async function runScenario(scenario: string): Promise<void> {
  if (scenario === 'baseline') return benchBaseline();
  if (scenario === 'embedded') return benchEmbedded('worker');
  if (scenario === 'embedded-main') return benchEmbedded('main');
  const fake = await startFake();
  try {
    if (scenario === 'loopback') await benchLoopback(fake);
    else if (scenario === 'outage') await benchOutage(fake);
    else throw new Error(`unknown scenario ${scenario}`);
  } finally {
    await fake.stop();
  }
}

if (values.scenario !== undefined) {
  await runScenario(values.scenario);
} else {
  const cpu = cpus()[0]?.model ?? '?';
  console.log(`telemetry storage benchmark — Node ${process.version}, ${cpus().length} CPUs (${cpu})`);
  console.log(
    `rows ${fmt(ROWS)}, chunk ${CHUNK}, outage ${OUTAGE_MS / 1000} s (${OUTAGE_MODE}) at ${fmt(RATE)} rows/s`,
  );
  const passThrough = process.argv
    .slice(2)
    .filter((arg, i, all) => arg !== '--only' && all[i - 1] !== '--only');
  for (const scenario of values.only.split(',').filter(Boolean)) {
    console.log('');
    const child = fork(new URL(import.meta.url), ['--scenario', scenario, ...passThrough], {
      stdio: 'inherit',
      execArgv: [...process.execArgv, '--expose-gc'],
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) console.log(`${scenario}: exited with code ${code}`);
  }
}
