/** Storage-path worker threads run below the broker's I/O thread (Linux nice, per thread). */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CodecPool } from '../../codecs/index.js';

const pools: CodecPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
});

/** Niceness of every thread of this process, by thread id (Linux /proc). */
function niceness(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}

describe.runIf(process.platform === 'linux')('storage thread priority', () => {
  it('lowers the codec workers (and only them) by the configured niceness', async () => {
    const before = niceness();
    const pool = new CodecPool({ threads: 2, niceness: 7, onRows: () => {} });
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
    const after = niceness();
    const fresh = [...after].filter(([tid]) => !before.has(tid));
    // (the second worker may still be loading its module: at least the one that worked)
    expect(fresh.filter(([, nice]) => nice === 7).length).toBeGreaterThanOrEqual(1);
    expect(fresh.every(([, nice]) => nice === 0 || nice === 7)).toBe(true);
    expect(after.get(process.pid)).toBe(before.get(process.pid)); // the main (I/O) thread is untouched
  });
});
