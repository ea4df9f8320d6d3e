/** Storage-path worker threads run below the broker's I/O thread (Linux nice and SCHED_IDLE, per thread). */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CodecPool, type CodecPoolOptions } from '../../codecs/index.js';

const pools: CodecPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
});

const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

/** Niceness and scheduling policy of every thread of this process, by thread id (Linux /proc/<pid>/task/<tid>/stat). */
function threads(): Map<number, { nice: number; policy: number }> {
  const out = new Map<number, { nice: number; policy: number }>();
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
    // Fields after "(comm)": the 3rd of stat(5) is at index 0, so field n is at n - 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), { nice: Number(fields[19 - 3]), policy: Number(fields[41 - 3]) });
  }
  return out;
}

/** Runs one batch through a fresh pool; returns the threads that appeared, and the main thread before and after. */
async function workerThreads(options: Partial<CodecPoolOptions>) {
  const before = threads();
  const pool = new CodecPool({ threads: 2, onRows: () => {}, ...options });
  pools.push(pool);
  pool.push({
    channel: 'c',
    subtopic: '',
    publisher: 'p',
    protocol: 'mqtt',
    contentType: 'application/senml+json',
    created: Date.now(),
    payload: Buffer.from('[{"n":"x","v":1}]'),
  });
  await pool.drain(); // the worker that resolved the batch has run its module (and lowered itself) by now
  const after = threads();
  return {
    fresh: [...after].filter(([tid]) => !before.has(tid)).map(([, t]) => t),
    main: [before.get(process.pid), after.get(process.pid)],
  };
}

describe.runIf(process.platform === 'linux')('storage thread priority', () => {
  it('lowers the codec workers (and only them) by the configured niceness', async () => {
    const { fresh, main } = await workerThreads({ niceness: 7, schedIdle: false });
    // (the second worker may still be loading its module: at least the one that worked)
    expect(fresh.filter((t) => t.nice === 7).length).toBeGreaterThanOrEqual(1);
    expect(fresh.every((t) => (t.nice === 0 || t.nice === 7) && t.policy === SCHED_OTHER)).toBe(true);
    expect(main[1]).toEqual(main[0]); // the main (I/O) thread is untouched
  });

  it('runs the codec workers under SCHED_IDLE by default, at the lowest niceness, the main thread untouched', async () => {
    const { fresh, main } = await workerThreads({});
    expect(fresh.filter((t) => t.policy === SCHED_IDLE && t.nice === 19).length).toBeGreaterThanOrEqual(1);
    expect(fresh.every((t) => t.policy === SCHED_IDLE || t.policy === SCHED_OTHER)).toBe(true);
    expect(main[0]?.policy).toBe(SCHED_OTHER);
    expect(main[1]).toEqual(main[0]);
  });
});
