/**
 * SenML codec benchmarks: records/s resolved from a typical 10-record pack (JSON and CBOR), on the main thread
 * alone and through the CodecPool on all cores.
 *
 *   npx tsx bench/codecs/senml.bench.ts            # full matrix
 *   CODECS_BENCH_QUICK=1 npx tsx bench/codecs/senml.bench.ts   # main thread + default pool only
 *
 * Pool runs push M envelopes as a cooperative producer (it awaits `whenUnsaturated()` instead of overrunning the
 * pool, so nothing is dropped) and end when every row has reached the sink (`drain()`); the main-thread baseline
 * does the same work (envelope → row objects) with `envelopeToRows`.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { Bench, type Task } from 'tinybench';
import {
  CodecPool,
  type CodecPoolOptions,
  type Envelope,
  EnvelopeBatchWriter,
  envelopeToRows,
  packMessages,
  parseSenMLCbor,
  parseSenMLJson,
  processBatch,
  type Row,
  readRowColumns,
  SENML_CBOR,
  SENML_JSON,
  validateSenML,
} from '../../codecs/index.js';
import { threadCpuSeconds } from '../load/procstat.js';
import { envelopes, PACK_CBOR, PACK_JSON, RECORDS_PER_PACK } from './fixtures.js';

const QUICK = process.env.CODECS_BENCH_QUICK === '1';
const MESSAGES = 100_000;
const NOW = 1_700_000_000;

function hz(task: Task): number {
  const result = task.result;
  if (!('throughput' in result)) throw new Error(`task ${task.name} did not complete: ${result.state}`);
  return result.throughput.mean;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}, availableParallelism ${availableParallelism()}`,
);
console.log(
  `JSON pack ${PACK_JSON.byteLength} B, CBOR pack ${PACK_CBOR.byteLength} B, ${RECORDS_PER_PACK} records each\n`,
);

// --- main thread ---------------------------------------------------------------------------------------------------

const jsonEnv = envelopes('json', 1)[0]!;
const cborEnv = envelopes('cbor', 1)[0]!;
const writer = new EnvelopeBatchWriter(1 << 20);
const single = new Bench({ name: 'main thread, one message per call', time: 1500 });
single
  .add('JSON parse+resolve', () => {
    parseSenMLJson(PACK_JSON, { now: NOW });
  })
  .add('CBOR parse+resolve', () => {
    parseSenMLCbor(PACK_CBOR, { now: NOW });
  })
  .add('JSON validate (strict)', () => {
    validateSenML(PACK_JSON, SENML_JSON);
  })
  .add('CBOR validate (strict)', () => {
    validateSenML(PACK_CBOR, SENML_CBOR);
  })
  .add('JSON envelope → rows', () => {
    envelopeToRows(jsonEnv);
  })
  .add('CBOR envelope → rows', () => {
    envelopeToRows(cborEnv);
  })
  .add('push cost: batch writer add (JSON env)', () => {
    writer.add(jsonEnv);
    if (writer.count === 1024) writer.finish();
  });
await single.run();
console.log(single.name);
console.table(
  single.tasks.map((t) => ({
    task: t.name,
    'calls/s': fmt(hz(t)),
    'records/s': t.name.startsWith('push') ? '' : fmt(hz(t) * RECORDS_PER_PACK),
    'µs/call': (1e6 / hz(t)).toFixed(2),
  })),
);

// --- the pieces of the pool path, on the main thread ---------------------------------------------------------------

const BATCH = 256;
const piecesFor = (format: 'json' | 'cbor') => {
  const list = envelopes(format, BATCH);
  const packed = packMessages(list);
  // processBatch only reads its buffer, so a few copies can be reused (no per-call allocation in the timing)
  const copies = Array.from({ length: 16 }, () => packed.buffer.slice(0, packed.byteLength));
  let k = 0;
  const task = (transport: 'columns' | 'objects' | 'encoded') => ({
    ...packed,
    buffer: copies[k++ & 15]!,
    transport,
    maxBytes: 1 << 20,
    maxRecords: 10_000,
    spare: null,
  });
  const columns = processBatch(task('columns')).columns!;
  const objects = processBatch(task('objects')).rows!;
  return { list, task, columns, objects };
};
const parts = new Bench({
  name: `pool path pieces, per batch of ${BATCH} messages (main thread)`,
  time: 1000,
});
for (const format of ['json', 'cbor'] as const) {
  const p = piecesFor(format);
  parts
    .add(`${format}: single thread, envelopeToRows × ${BATCH}`, () => {
      for (const e of p.list) envelopeToRows(e);
    })
    .add(`${format}: push side, batch writer add × ${BATCH}`, () => {
      packMessages(p.list);
    })
    .add(`${format}: worker side, processBatch (columns)`, () => {
      processBatch(p.task('columns'));
    })
    .add(`${format}: worker side, processBatch (objects)`, () => {
      processBatch(p.task('objects'));
    })
    .add(`${format}: worker side, processBatch (encoded)`, () => {
      processBatch(p.task('encoded'));
    })
    .add(`${format}: main side, columns → row objects`, () => {
      readRowColumns(p.columns, []);
    })
    .add(`${format}: main side, structuredClone of row objects`, () => {
      structuredClone(p.objects);
    });
}
await parts.run();
console.log(parts.name);
console.table(
  parts.tasks.map((t) => ({
    task: t.name,
    'µs/batch': (1e6 / hz(t)).toFixed(0),
    'ns/message': (1e9 / hz(t) / BATCH).toFixed(0),
  })),
);

// --- pool vs main thread, end to end ---------------------------------------------------------------------------------
//
// This box is shared: other processes take a varying share of the 2 cores, which hurts a 3-thread pool run more than
// a 1-thread run. So the comparison is interleaved: each round is one tinybench run over every task (in a rotated
// order), and the table reports the median and the best round of each task.

async function pump(pool: CodecPool, list: readonly Envelope[]): Promise<void> {
  for (let i = 0; i < list.length; i++) {
    if (pool.saturated) await pool.whenUnsaturated();
    pool.push(list[i]!);
  }
  await pool.drain();
}

interface PoolConfig {
  label: string;
  options: Omit<CodecPoolOptions, 'onRows' | 'onEncoded'>;
  /** Rows come back in byte form (`onEncoded`, what `omap serve` uses) instead of objects. */
  encoded?: boolean;
}

const threads = availableParallelism();
const configs: PoolConfig[] = [
  { label: `pool ${threads}T encoded (omap serve: onEncoded, batch=256)`, options: {}, encoded: true },
  { label: `pool ${threads}T (onRows defaults: columns, atomics=disabled, batch=256)`, options: {} },
];
if (!QUICK) {
  configs.push(
    { label: `pool ${threads}T atomics=sync`, options: { atomics: 'sync' } },
    { label: `pool ${threads}T transport=objects`, options: { transport: 'objects' } },
    { label: `pool ${threads}T batch=64`, options: { batchSize: 64 } },
    { label: `pool ${threads}T batch=1024`, options: { batchSize: 1024 } },
    { label: `pool ${threads}T tasksPerThread=1`, options: { tasksPerThread: 1 } },
    { label: 'pool 1T', options: { threads: 1 } },
  );
}
const ROUNDS = QUICK ? 5 : 7;

/**
 * CPU used by other processes while a task ran, in cores: busy time of the whole box (/proc/stat, Linux) minus this
 * process's own CPU time (all its threads). Tells whether a pool run had the second core at all.
 */
interface LoadMark {
  wall: number;
  box: number;
  own: number;
  /** CPU seconds of this process's main thread (Linux: /proc/self/task/<pid>/stat utime + stime). */
  main: number;
}
function mainThreadCpu(): number {
  return threadCpuSeconds('self', process.pid) ?? Number.NaN;
}
const CLK_TCK = 100;
function loadMark(): LoadMark | null {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  } catch {
    return null;
  }
  const f = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  const cpu = process.cpuUsage();
  return {
    wall: performance.now() / 1000,
    box: busy / CLK_TCK,
    own: (cpu.user + cpu.system) / 1e6,
    main: mainThreadCpu(),
  };
}
interface LoadTotals {
  cpu: number;
  wall: number;
  own: number;
  main: number;
}
const others = new Map<string, LoadTotals>();
/** Messages processed per task (all rounds), to turn CPU seconds into µs per message. */
const processed = new Map<string, number>();
function loadHooks(name: string): { beforeAll: () => void; afterAll: () => void } {
  let start: LoadMark | null = null;
  return {
    beforeAll: () => {
      start = loadMark();
    },
    afterAll: () => {
      const end = loadMark();
      if (start === null || end === null) return;
      const acc = others.get(name) ?? { cpu: 0, wall: 0, own: 0, main: 0 };
      acc.cpu += Math.max(0, end.box - start.box - (end.own - start.own));
      acc.wall += end.wall - start.wall;
      acc.own += end.own - start.own;
      acc.main += end.main - start.main;
      others.set(name, acc);
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const summary: Array<Record<string, string>> = [];
for (const format of ['json', 'cbor'] as const) {
  const list = envelopes(format, MESSAGES);
  const expected = MESSAGES * RECORDS_PER_PACK;
  let rows = 0;
  const pools = configs.map((config) => ({
    config,
    pool: new CodecPool(
      config.encoded === true
        ? {
            threads,
            ...config.options,
            onEncoded: (part) => {
              rows += part.rows;
            },
          }
        : {
            threads,
            ...config.options,
            onRows: (r: Row[]) => {
              rows += r.length;
            },
          },
    ),
  }));
  for (const { pool } of pools) await pump(pool, list.slice(0, 4000)); // threads up, JIT warm
  for (const e of list.slice(0, 4000)) envelopeToRows(e);
  const SINGLE = 'main thread (envelopeToRows)';
  const samples = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ name: `${format} round ${round}`, time: 0, iterations: 2, warmup: false });
    const tasks: Array<[string, () => void | Promise<void>]> = [
      [
        SINGLE,
        () => {
          let n = 0;
          for (const e of list) n += envelopeToRows(e).rows.length;
          if (n !== expected) throw new Error(`rows ${n} !== ${expected}`);
        },
      ],
      ...pools.map(({ config, pool }): [string, () => Promise<void>] => [
        config.label,
        async () => {
          rows = 0;
          await pump(pool, list);
          if (rows !== expected) throw new Error(`${config.label}: rows ${rows} !== ${expected}`);
        },
      ]),
    ];
    const shift = round % tasks.length;
    for (const [name, fn] of [...tasks.slice(shift), ...tasks.slice(0, shift)]) {
      const key = `${format}:${name}`;
      bench.add(
        name,
        async () => {
          await fn();
          processed.set(key, (processed.get(key) ?? 0) + MESSAGES);
        },
        loadHooks(key),
      );
    }
    await bench.run();
    for (const t of bench.tasks) {
      const list = samples.get(t.name) ?? [];
      list.push(hz(t) * expected);
      samples.set(t.name, list);
    }
  }
  for (const { pool } of pools) {
    const stats = pool.stats;
    await pool.close();
    if (stats.droppedOverload !== 0 || stats.invalid !== 0)
      throw new Error(`unexpected ${JSON.stringify(stats)}`);
  }
  const base = samples.get(SINGLE)!;
  for (const [name, values] of samples) {
    const load = others.get(`${format}:${name}`);
    const count = processed.get(`${format}:${name}`) ?? 1;
    summary.push({
      format,
      task: name,
      'median records/s': fmt(median(values)),
      'best records/s': fmt(Math.max(...values)),
      'median vs main': `${(median(values) / median(base)).toFixed(2)}×`,
      'best vs best main': `${(Math.max(...values) / Math.max(...base)).toFixed(2)}×`,
      'other processes (cores)':
        load === undefined || load.wall === 0 ? '?' : (load.cpu / load.wall).toFixed(2),
      'main thread CPU µs/msg': load === undefined ? '?' : ((load.main / count) * 1e6).toFixed(2),
      'process CPU µs/msg': load === undefined ? '?' : ((load.own / count) * 1e6).toFixed(2),
    });
  }
}
console.log(
  `\nend to end: ${MESSAGES} messages × ${RECORDS_PER_PACK} records per run, ${ROUNDS} interleaved rounds`,
);
console.log(
  '(other processes: cores the rest of the box used during the task, of 2. CPU µs/msg is CPU time, not slowed by ' +
    'waiting for a core: main thread = what the event loop pays; process = all threads, the total cost)',
);
console.table(summary);
