// Fixed-memory latency histogram (HDR-style log-linear buckets) in microseconds: exact below
// 2048 µs, then 1024 sub-buckets per power of two (relative error < 0.1 %). Recording is a few
// integer operations, so it can sit on the per-message receive path.

const SUB_BITS = 10;
const SUB = 1 << SUB_BITS; // 1024
const LINEAR = SUB * 2; // values below this are exact
const MAX_SHIFT = 21; // up to 2^31 µs ≈ 35 min
const BUCKETS = LINEAR + MAX_SHIFT * SUB;

export interface LatencySummary {
  count: number;
  /** Milliseconds. */
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sumUs = 0;
  private minUs = Number.POSITIVE_INFINITY;
  private maxUs = 0;

  /** Records one sample given in milliseconds. */
  recordMs(ms: number): void {
    let us = ms * 1000;
    if (us < 0) us = 0; // clock skew cannot happen in one process, but keep the index valid
    this.n++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    if (us < this.minUs) this.minUs = us;
    this.counts[LatencyHistogram.index(us)]!++;
  }

  private static index(us: number): number {
    const v = us >= 2_147_483_647 ? 2_147_483_647 : Math.floor(us);
    if (v < LINEAR) return v;
    const shift = 31 - Math.clz32(v) - SUB_BITS; // v >> shift in [1024, 2047]
    return LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
  }

  /** Upper bound (µs) of the values stored in bucket `i`. */
  private static upper(i: number): number {
    if (i < LINEAR) return i + 1;
    const shift = Math.floor((i - LINEAR) / SUB) + 1;
    const sub = ((i - LINEAR) % SUB) + SUB;
    return (sub + 1) * 2 ** shift;
  }

  get count(): number {
    return this.n;
  }

  /** Value (µs) at quantile q in [0, 1], capped by the exact max. */
  quantileUs(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(LatencyHistogram.upper(i), this.maxUs);
    }
    return this.maxUs;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.n += other.n;
    this.sumUs += other.sumUs;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
    this.minUs = Math.min(this.minUs, other.minUs);
  }

  summary(): LatencySummary {
    const ms = (us: number): number => Math.round(us) / 1000;
    if (this.n === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    return {
      count: this.n,
      min: ms(this.minUs),
      mean: ms(this.sumUs / this.n),
      p50: ms(this.quantileUs(0.5)),
      p90: ms(this.quantileUs(0.9)),
      p99: ms(this.quantileUs(0.99)),
      p999: ms(this.quantileUs(0.999)),
      max: ms(this.maxUs),
    };
  }
}
