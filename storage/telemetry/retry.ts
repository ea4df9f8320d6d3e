/**
 * Time and retry policy of the storage path: an injectable clock (tests drive time by hand), exponential backoff
 * with jitter, and a time-box for promises that may never settle.
 */

/** What the pipeline needs of time. Inject a manual clock in tests; the default is the real one. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time. Timers are unref'd: pending retries or lingers never keep a process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface BackoffOptions {
  /** Delay before the first retry (ms). */
  baseMs: number;
  /** Upper bound of any delay (ms). */
  maxMs: number;
}

/** Capped at 5 s: after an outage the store is retried within seconds, with jitter spreading many brokers. */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 5000 };

/**
 * Delay before retry number `attempt` (1 = first retry): the exponential ceiling `base × 2^(attempt-1)` (capped at
 * `max`), of which a random half is jitter ("equal jitter"). The jitter spreads the retries of many brokers after a
 * shared outage; the fixed half keeps a minimum pause so a dead server is not hammered.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** A pause that can be cut short (close() must not wait out a backoff). */
export class InterruptibleDelay {
  readonly #clock: Clock;
  #handle: unknown = null;
  #resolve: (() => void) | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  wait(ms: number): Promise<void> {
    this.interrupt();
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#handle = this.#clock.setTimeout(() => this.#finish(), ms);
    });
  }

  /** Ends the current wait now (no-op when none). */
  interrupt(): void {
    if (this.#handle !== null) this.#clock.clearTimeout(this.#handle);
    this.#finish();
  }

  #finish(): void {
    this.#handle = null;
    const resolve = this.#resolve;
    this.#resolve = null;
    resolve?.();
  }
}

export type TimeBoxed<T> =
  | { settled: true; value: T }
  | { settled: false; reason: 'timeout' | 'interrupted' };

/**
 * Races `promise` against `ms` of the clock and an optional interrupt. When the time-box wins, the promise keeps
 * running unobserved (its rejection is swallowed here, so it can never become an unhandled rejection); the caller
 * decides what an abandoned operation means.
 */
export function timeBox<T>(
  promise: Promise<T>,
  ms: number,
  clock: Clock,
  interrupt?: Promise<void>,
): Promise<TimeBoxed<T>> {
  return new Promise((resolve, reject) => {
    let done = false;
    const handle = clock.setTimeout(() => {
      if (done) return;
      done = true;
      resolve({ settled: false, reason: 'timeout' });
    }, ms);
    promise.then(
      (value) => {
        if (done) return;
        done = true;
        clock.clearTimeout(handle);
        resolve({ settled: true, value });
      },
      (error: unknown) => {
        if (done) return;
        done = true;
        clock.clearTimeout(handle);
        reject(error);
      },
    );
    interrupt?.then(() => {
      if (done) return;
      done = true;
      clock.clearTimeout(handle);
      resolve({ settled: false, reason: 'interrupted' });
    });
  });
}
