/** Storage-path worker threads run below the broker's I/O thread (Linux nice and SCHED_IDLE, per thread). */
import { afterEach, describe, expect, it } from 'vitest';
import { CodecPool, type CodecPoolOptions } from '../../codecs/index.js';
import { newThreads, SCHED_IDLE, SCHED_OTHER, threadScheduling } from '../thread-stat.js';

const pools: CodecPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
});

/** Runs one batch through a fresh pool; returns the threads that appeared, and the main thread before and after. */
async function workerThreads(options: Partial<CodecPoolOptions>) {
  const before = threadScheduling();
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
  const after = threadScheduling();
  return {
    fresh: newThreads(before, after),
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
