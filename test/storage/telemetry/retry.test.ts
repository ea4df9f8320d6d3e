/** Backoff with jitter, the time-box, the interruptible delay (on a manual clock). */
import { describe, expect, it } from 'vitest';
import { backoffDelay, InterruptibleDelay, timeBox } from '../../../storage/telemetry/retry.js';
import { ManualClock } from './fixtures.js';

describe('backoffDelay', () => {
  const options = { baseMs: 100, maxMs: 10_000 };

  it('grows exponentially up to the cap, with half of each delay random', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, options, () => 1))).toEqual([100, 200, 400, 800]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, options, () => 0))).toEqual([50, 100, 200, 400]);
    expect(backoffDelay(20, options, () => 1)).toBe(10_000);
    expect(backoffDelay(1000, options, () => 0)).toBe(5000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(5, options)));
    expect(spread.size).toBeGreaterThan(10);
    for (const d of spread) expect(d >= 800 && d <= 1600).toBe(true);
  });
});

describe('timeBox', () => {
  it('settles with the value, or with a time-out, or when interrupted', async () => {
    const clock = new ManualClock();
    await expect(timeBox(Promise.resolve(7), 100, clock)).resolves.toEqual({ settled: true, value: 7 });
    const never = new Promise<number>(() => {});
    const boxed = timeBox(never, 100, clock);
    clock.advance(99);
    clock.advance(1);
    await expect(boxed).resolves.toEqual({ settled: false, reason: 'timeout' });
    let interrupt!: () => void;
    const interrupted = timeBox(never, 100, clock, new Promise<void>((r) => (interrupt = r)));
    interrupt();
    await expect(interrupted).resolves.toEqual({ settled: false, reason: 'interrupted' });
    await expect(timeBox(Promise.reject(new Error('boom')), 100, clock)).rejects.toThrow('boom');
    expect(clock.pending).toBe(0); // every box cleared its timer when it settled or was interrupted
  });

  it('swallows a late rejection of an abandoned promise', async () => {
    const clock = new ManualClock();
    let fail!: (e: Error) => void;
    const late = new Promise<void>((_, reject) => (fail = reject));
    const boxed = timeBox(late, 10, clock);
    clock.advance(10);
    await expect(boxed).resolves.toMatchObject({ settled: false });
    fail(new Error('late')); // must not become an unhandled rejection
    await new Promise((r) => setImmediate(r));
  });
});

describe('InterruptibleDelay', () => {
  it('waits for the clock and can be cut short', async () => {
    const clock = new ManualClock();
    const delay = new InterruptibleDelay(clock);
    let done = false;
    const waiting = delay.wait(1000).then(() => (done = true));
    clock.advance(999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await waiting;
    const second = delay.wait(60_000);
    delay.interrupt();
    await second;
    expect(clock.pending).toBe(0);
  });
});
