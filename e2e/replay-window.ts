import { E2EError } from './errors.js';

/**
 * Replay detection for one Megolm session, in constant memory.
 *
 * Megolm decrypts the same message as often as it is presented, and the broker can replay. A
 * consumer therefore remembers which indices of a session it accepted: the highest one, plus a
 * bitmap of the `size` indices up to it (a sliding window, as in IPsec/DTLS anti-replay).
 *
 * Rules, for an index i and the highest accepted index h:
 * - i > h: new (the window slides forward);
 * - h - size < i ≤ h: new unless its bit is set (reordering within the window is tolerated);
 * - i ≤ h - size: rejected as too old, because whether it was seen can no longer be told.
 *
 * Record an index only after the message authenticated, or a forged message could burn a real index.
 */

export type ReplayStatus = 'new' | 'duplicate' | 'too-old';

export const DEFAULT_REPLAY_WINDOW = 1024;

export class ReplayWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  #highest = -1;

  /** `size` indices of reordering tolerance; a multiple of 32 between 32 and 2^20 (default 1024 = 128 bytes). */
  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size > 2 ** 20 || size % 32 !== 0) {
      throw new E2EError('INVALID_ARGUMENT', 'replay window size must be a multiple of 32 in [32, 2^20]');
    }
    this.size = size;
    this.#bits = new Uint32Array(size / 32);
  }

  /** The highest accepted index, or -1 before the first. */
  get highest(): number {
    return this.#highest;
  }

  /** Classifies an index without recording it. */
  status(index: number): ReplayStatus {
    if (index > this.#highest) return 'new';
    if (index <= this.#highest - this.size) return 'too-old';
    const slot = index % this.size;
    return (this.#bits[slot >>> 5]! & (1 << (slot & 31))) === 0 ? 'new' : 'duplicate';
  }

  /** Throws REPLAY unless the index is new. */
  check(index: number): void {
    const status = this.status(index);
    if (status !== 'new') throw new E2EError('REPLAY', `message index ${index} is ${status}`);
  }

  /** Records an accepted index; throws REPLAY if it is not new. */
  record(index: number): void {
    this.check(index);
    if (index > this.#highest) {
      if (index - this.#highest >= this.size) {
        this.#bits.fill(0);
      } else {
        // Slots now leaving the window are reused for the new indices: clear them.
        for (let i = this.#highest + 1; i < index; i++) this.#clear(i % this.size);
      }
      this.#highest = index;
    }
    const slot = index % this.size;
    this.#bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  #clear(slot: number): void {
    this.#bits[slot >>> 5]! &= ~(1 << (slot & 31));
  }
}
