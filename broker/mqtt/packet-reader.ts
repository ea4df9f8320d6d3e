/**
 * Splits an MQTT byte stream into whole packets without copying when it can.
 *
 * A packet that lies entirely inside one read chunk is handed on as offsets into that chunk (the
 * common case for small packets). Only a packet that straddles chunks is assembled, into a buffer
 * of exactly its size, allocated once its length is known. The maximum packet size is enforced as
 * soon as the fixed header has been read, so an oversized packet is refused before it is buffered.
 */

export type FramingError = 'malformed-length' | 'packet-too-large';

export interface PacketSink {
  /**
   * One whole packet: `buf[start]` is the first header byte, the variable header begins at `bodyStart`
   * and the packet ends at `end` (exclusive). The bytes are valid as long as `buf` is referenced.
   */
  onPacket(buf: Buffer, start: number, bodyStart: number, end: number): void;
  onFramingError(error: FramingError, declaredSize?: number): void;
}

export class PacketReader {
  /** Bytes of a fixed header that was cut by the end of a chunk (at most 4). */
  private headerTail: Buffer | null = null;
  /** The packet being assembled across chunks. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private partialBodyStart = 0;
  private stopped = false;

  constructor(
    private readonly sink: PacketSink,
    public maxPacketSize: number,
  ) {}

  /** Stops delivering packets (the connection is closing); later input is ignored. */
  stop(): void {
    this.stopped = true;
    this.partial = null;
    this.headerTail = null;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let offset = 0;
    if (this.partial !== null) {
      const partial = this.partial;
      const n = Math.min(partial.length - this.partialFilled, chunk.length);
      chunk.copy(partial, this.partialFilled, 0, n);
      this.partialFilled += n;
      if (this.partialFilled < partial.length) return;
      this.partial = null;
      offset = n;
      this.sink.onPacket(partial, 0, this.partialBodyStart, partial.length);
    } else if (this.headerTail !== null) {
      chunk = Buffer.concat([this.headerTail, chunk]);
      this.headerTail = null;
    }

    const length = chunk.length;
    while (offset < length && !this.stopped) {
      // Fixed header: one type byte, then the remaining length as a 1-4 byte variable integer.
      let remaining = 0;
      let multiplier = 1;
      let i = offset + 1;
      let complete = false;
      while (i < length) {
        const b = chunk[i++]!;
        remaining += (b & 0x7f) * multiplier;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        multiplier *= 128;
        if (i - offset > 4) {
          this.fail('malformed-length');
          return;
        }
      }
      if (!complete) {
        this.headerTail = Buffer.from(chunk.subarray(offset));
        return;
      }
      const bodyStart = i;
      const total = bodyStart - offset + remaining;
      if (total > this.maxPacketSize) {
        this.fail('packet-too-large', total);
        return;
      }
      if (length - offset >= total) {
        this.sink.onPacket(chunk, offset, bodyStart, offset + total);
        offset += total;
      } else {
        const partial = Buffer.allocUnsafe(total);
        chunk.copy(partial, 0, offset);
        this.partial = partial;
        this.partialFilled = length - offset;
        this.partialBodyStart = bodyStart - offset;
        return;
      }
    }
  }

  private fail(error: FramingError, declaredSize?: number): void {
    this.stop();
    this.sink.onFramingError(error, declaredSize);
  }
}
