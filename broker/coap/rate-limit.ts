/**
 * Per-peer request rate limit: a token bucket refilled continuously at `ratePerSecond` up to `burst`.
 * The bucket lives in the peer's state; this class only does the arithmetic.
 */

export interface TokenBucket {
  tokens: number;
  refilledAt: number;
}

export class RateLimiter {
  constructor(
    /** 0 disables limiting. */
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  /** A full bucket, for a peer seen for the first time. */
  fill(bucket: TokenBucket, now: number): void {
    bucket.tokens = Math.max(1, this.burst);
    bucket.refilledAt = now;
  }

  /** Takes one token; false when the bucket is empty (the request is over the limit). */
  take(bucket: TokenBucket, now: number): boolean {
    if (this.ratePerSecond <= 0) return true;
    const elapsed = now - bucket.refilledAt;
    if (elapsed > 0) {
      bucket.tokens = Math.min(
        Math.max(1, this.burst),
        bucket.tokens + (elapsed * this.ratePerSecond) / 1000,
      );
      bucket.refilledAt = now;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Whole seconds until the next token, for the Max-Age of a 4.29 (RFC 8516 §3). */
  retryAfterSeconds(bucket: TokenBucket): number {
    if (this.ratePerSecond <= 0) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
  }
}
