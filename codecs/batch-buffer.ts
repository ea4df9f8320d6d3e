/**
 * The growing, transferable buffer behind the batch writers (envelope.ts, message-batch.ts): bytes are appended at
 * `length`, `take()` hands the whole ArrayBuffer over (e.g. for a `transferList`) and starts the next one, reusing a
 * buffer given back with `recycle` when one is large enough. Allocating a fresh large ArrayBuffer costs more than
 * packing a whole batch (measured ~80 µs for 160 KiB: new zeroed pages).
 */
export class BatchBuffer {
  buffer: ArrayBuffer;
  bytes: Uint8Array;
  view: DataView;
  /** Bytes written, `reserved` included. */
  length: number;
  readonly #initial: number;
  readonly #reserved: number;
  readonly #free: ArrayBuffer[] = [];

  /** `reserved`: bytes kept free at the start of every buffer (a header written at the end). */
  constructor(initialBytes: number, reserved = 0) {
    this.#initial = Math.max(1024, initialBytes);
    this.#reserved = reserved;
    this.buffer = new ArrayBuffer(this.#initial);
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.length = reserved;
  }

  /** Makes room for `extra` more bytes (copying what is written into a larger buffer when needed). */
  ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.buffer = next.buffer;
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  /** Hands the buffer over (bytes `[0, byteLength)`) and starts the next one, sized after this one. */
  take(): { buffer: ArrayBuffer; byteLength: number } {
    const taken = { buffer: this.buffer, byteLength: this.length };
    // Batches of one writer tend to look alike: size the next buffer after this one, within sane bounds.
    const nextSize = Math.min(Math.max(this.#initial, this.length + (this.length >> 2)), 64 * 1024 * 1024);
    let next: ArrayBuffer | undefined;
    while (next === undefined && this.#free.length > 0) {
      const candidate = this.#free.pop()!;
      if (candidate.byteLength >= nextSize) next = candidate;
    }
    this.buffer = next ?? new ArrayBuffer(nextSize);
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.length = this.#reserved;
    return taken;
  }

  /** Gives a taken buffer back once nobody reads it any more. Keeps a few; detached buffers are ignored. */
  recycle(buffer: ArrayBuffer): void {
    if (buffer.byteLength > 0 && this.#free.length < 8) this.#free.push(buffer);
  }
}
