/**
 * Per-client cache of publish decisions, so that a client publishing to the same topics pays the
 * authorizer once per topic per TTL. A Map lookup and a clock comparison on the hot path.
 * Bounded: when full it starts over rather than tracking recency (publishers use few topics).
 */
export class DecisionCache {
  // Created on first use: a subscriber-only client never asks for publish decisions.
  private entries: Map<string, number> | null = null;
  /** Bumped by `clear()` so an answer that was in flight during an invalidation is not cached. */
  generation = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1024,
  ) {}

  /** `true`/`false` if a live decision is cached, `undefined` otherwise. */
  get(topic: string, now: number): boolean | undefined {
    const e = this.entries?.get(topic);
    if (e === undefined) return undefined;
    // Allowed decisions are stored as +expiry, denials as -expiry.
    if (e > 0) return e > now ? true : undefined;
    return -e > now ? false : undefined;
  }

  set(topic: string, allowed: boolean, now: number, generation = this.generation): void {
    if (this.ttlMs <= 0 || generation !== this.generation) return;
    const entries = (this.entries ??= new Map());
    if (entries.size >= this.maxEntries) entries.clear();
    const expiry = now + this.ttlMs;
    entries.set(topic, allowed ? expiry : -expiry);
  }

  clear(): void {
    this.entries = null;
    this.generation++;
  }
}
