/**
 * A millisecond clock read from a variable and refreshed by an unref'd timer. `Date.now()` costs
 * ~60 ns on Node 20, about half of a cached authorization decision; a TTL that is a safety net
 * does not need better than `RESOLUTION_MS`. Started while at least one user holds it.
 */

export const RESOLUTION_MS = 50;

let current = Date.now();
let timer: NodeJS.Timeout | null = null;
let holders = 0;

/** The time in ms, at most about RESOLUTION_MS old while the clock runs (exact when it does not). */
export function coarseNow(): number {
  return timer === null ? Date.now() : current;
}

/** Starts the clock (reference counted); call the returned function to release it. */
export function holdCoarseClock(): () => void {
  holders++;
  if (timer === null) {
    current = Date.now();
    timer = setInterval(() => {
      current = Date.now();
    }, RESOLUTION_MS);
    timer.unref();
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}
