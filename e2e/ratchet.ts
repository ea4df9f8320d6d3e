import { createHmac } from 'node:crypto';
import { E2EError } from './errors.js';

/**
 * The Megolm ratchet: four 32-byte parts R0‖R1‖R2‖R3 and a 32-bit counter (the message index).
 *
 * Part j is rewritten as `R_j ← HMAC-SHA-256(key = R_from, data = [j])`. R3 changes on every step,
 * R2 every 2^8, R1 every 2^16, R0 every 2^24 steps. Because a lower part re-seeds every part above it,
 * `advanceTo` can jump to any later index with at most 255 rehashes per part (≈ 1020 HMACs worst case)
 * instead of walking the index one by one; the result is identical to single steps (libolm
 * `megolm_advance_to`).
 */

export const RATCHET_PARTS = 4;
export const RATCHET_PART_LENGTH = 32;
export const RATCHET_LENGTH = RATCHET_PARTS * RATCHET_PART_LENGTH;
/** The largest message index: the counter is a u32. */
export const MAX_MESSAGE_INDEX = 0xffff_ffff;

// The one-byte HMAC inputs, one per part written; allocated once because they are used on every step.
const PART_SEEDS: readonly Buffer[] = [0, 1, 2, 3].map((j) => Buffer.from([j]));

export class MegolmRatchet {
  /** R0‖R1‖R2‖R3. Mutated in place as the ratchet advances. */
  readonly data: Buffer;
  #counter: number;

  /** Wraps (does not copy) a 128-byte ratchet at `counter`. */
  constructor(data: Uint8Array, counter: number) {
    if (data.length !== RATCHET_LENGTH) {
      throw new E2EError('BAD_SESSION_KEY', `ratchet must be ${RATCHET_LENGTH} bytes, got ${data.length}`);
    }
    if (!Number.isInteger(counter) || counter < 0 || counter > MAX_MESSAGE_INDEX) {
      throw new E2EError('INVALID_ARGUMENT', `ratchet counter ${counter} is not a u32`);
    }
    this.data = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#counter = counter;
  }

  /** The message index this ratchet value belongs to. */
  get counter(): number {
    return this.#counter;
  }

  /** An independent copy (the 128 bytes are duplicated). */
  clone(): MegolmRatchet {
    return new MegolmRatchet(Buffer.from(this.data), this.#counter);
  }

  /** Copies another ratchet's value and counter into this one, reusing this buffer. */
  copyFrom(other: MegolmRatchet): void {
    other.data.copy(this.data);
    this.#counter = other.#counter;
  }

  /** Advances by exactly one index. The counter wraps modulo 2^32, as in libolm. */
  advance(): void {
    const counter = (this.#counter + 1) >>> 0;
    this.#counter = counter;
    // The lowest part whose lower counter bits all became zero re-seeds itself and every part above it.
    let h = 0;
    let mask = 0x00ff_ffff;
    while (h < RATCHET_PARTS - 1 && (counter & mask) !== 0) {
      h++;
      mask >>>= 8;
    }
    for (let k = RATCHET_PARTS - 1; k >= h; k--) this.#rehash(h, k);
  }

  /**
   * Advances to `target` in O(parts × 255) HMACs. A target below the counter means the u32 index
   * wrapped around (R0 then takes 256 steps), exactly as libolm does; callers that must not go
   * backwards check the order themselves.
   */
  advanceTo(target: number): void {
    if (!Number.isInteger(target) || target < 0 || target > MAX_MESSAGE_INDEX) {
      throw new E2EError('INVALID_ARGUMENT', `target index ${target} is not a u32`);
    }
    for (let j = 0; j < RATCHET_PARTS; j++) {
      const shift = 8 * (RATCHET_PARTS - 1 - j);
      let steps = ((target >>> shift) - (this.#counter >>> shift)) & 0xff;
      if (steps === 0) {
        if (target >= this.#counter) continue;
        steps = 0x100;
      }
      // All but the last step only need R_j itself; the parts above are re-seeded once at the end.
      for (; steps > 1; steps--) this.#rehash(j, j);
      for (let k = RATCHET_PARTS - 1; k >= j; k--) this.#rehash(j, k);
      this.#counter = shift === 0 ? target : ((target >>> shift) << shift) >>> 0;
    }
  }

  /** R_to ← HMAC(R_from, [to]). When from === to the key is read before it is overwritten. */
  #rehash(from: number, to: number): void {
    const start = from * RATCHET_PART_LENGTH;
    const digest = createHmac('sha256', this.data.subarray(start, start + RATCHET_PART_LENGTH))
      .update(PART_SEEDS[to]!)
      .digest();
    digest.copy(this.data, to * RATCHET_PART_LENGTH);
  }
}
