/**
 * Block2 (RFC 7959 §2.4, §3.4): a response or notification larger than the block size carries its first
 * block with Block2 (0, M=1), Size2 and an ETag; the client reads the rest with GETs carrying Block2
 * NUM. The body is kept per (peer, path) until read, replaced, or `timeoutMs` old; at most
 * `maxBodies` are kept (the oldest is dropped first).
 */
import { blockSizeOf } from './block-option.js';

export interface Representation {
  readonly payload: Buffer;
  /** Undefined for an empty representation (no Content-Format option). */
  readonly contentFormat: number | undefined;
  /** Distinguishes successive bodies on the same path, so a client never mixes blocks of two. */
  readonly etag: Buffer;
}

let etagCounter = Math.floor(Math.random() * 0x1_0000_0000);

/** A fresh 4-byte entity tag. */
export function nextEtag(): Buffer {
  etagCounter = (etagCounter + 1) >>> 0;
  const etag = Buffer.allocUnsafe(4);
  etag.writeUInt32BE(etagCounter);
  return etag;
}

/** Block `num` of `payload` at block size 2^(szx+4); null when `num` is past the end. */
export function sliceBlock(
  payload: Buffer,
  num: number,
  szx: number,
): { chunk: Buffer; more: boolean } | null {
  const size = blockSizeOf(szx);
  const start = num * size;
  if (start >= payload.length && !(num === 0 && payload.length === 0)) return null;
  const end = Math.min(start + size, payload.length);
  return { chunk: payload.subarray(start, end), more: end < payload.length };
}

export class Block2Bodies {
  private readonly bodies = new Map<string, { representation: Representation; expiresAt: number }>();

  constructor(
    private readonly maxBodies: number,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.bodies.size;
  }

  set(key: string, representation: Representation, now: number): void {
    if (this.maxBodies <= 0) return;
    this.bodies.delete(key); // re-insert at the back: the map stays ordered by age
    if (this.bodies.size >= this.maxBodies) {
      const oldest = this.bodies.keys().next();
      if (!oldest.done) this.bodies.delete(oldest.value);
    }
    this.bodies.set(key, { representation, expiresAt: now + this.timeoutMs });
  }

  get(key: string, now: number): Representation | undefined {
    const entry = this.bodies.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry.representation;
    this.bodies.delete(key);
    return undefined;
  }

  sweep(now: number): void {
    for (const [key, entry] of this.bodies) {
      if (entry.expiresAt > now) break;
      this.bodies.delete(key);
    }
  }

  clear(): void {
    this.bodies.clear();
  }
}
