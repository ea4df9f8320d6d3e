/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Taking may drive the balance
 * negative; the caller then waits `waitMs()` before going on, which throttles to the rate without
 * refusing anything.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number = rate,
    now: number = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes `n` tokens; returns false when the balance is now negative (the caller should wait). */
  take(n: number, now: number = Date.now()): boolean {
    this.refill(now);
    this.tokens -= n;
    return this.tokens >= 0;
  }

  /** Milliseconds until the balance is back to zero. */
  waitMs(now: number = Date.now()): number {
    this.refill(now);
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
  }
}
