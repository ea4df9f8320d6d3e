// Minimal MQTT 3.1.1 wire helpers for the load generator: encoders for the handful of packets the
// generator sends, and a frame splitter that hands complete frames to a sink without allocating
// for frames that sit inside one read chunk. Deliberately not a general codec: no validation
// beyond what is needed to split frames safely.

export const PacketType = {
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBACK: 9,
  PINGRESP: 13,
} as const;

/** Largest frame the splitter accepts; anything bigger is treated as a protocol error. */
export const MAX_FRAME = 16 * 1024 * 1024;

export function varIntLength(n: number): number {
  if (n < 128) return 1;
  if (n < 16_384) return 2;
  if (n < 2_097_152) return 3;
  if (n < 268_435_456) return 4;
  throw new RangeError(`remaining length too large: ${n}`);
}

function writeVarInt(buf: Buffer, off: number, n: number): number {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    buf[off++] = byte;
  } while (n > 0);
  return off;
}

function writeString(buf: Buffer, off: number, s: Buffer): number {
  buf.writeUInt16BE(s.length, off);
  s.copy(buf, off + 2);
  return off + 2 + s.length;
}

function frame(header: number, remaining: number): { buf: Buffer; off: number } {
  const buf = Buffer.allocUnsafe(1 + varIntLength(remaining) + remaining);
  buf[0] = header;
  const off = writeVarInt(buf, 1, remaining);
  return { buf, off };
}

/** CONNECT, MQTT 3.1.1, clean session, no will/credentials. */
export function encodeConnect(clientId: string, keepaliveSec: number): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const { buf, off } = frame(0x10, 10 + 2 + id.length);
  let o = writeString(buf, off, Buffer.from('MQTT'));
  buf[o++] = 4; // protocol level 3.1.1
  buf[o++] = 0x02; // clean session
  buf.writeUInt16BE(keepaliveSec, o);
  writeString(buf, o + 2, id);
  return buf;
}

export function encodeSubscribe(packetId: number, filter: string, qos: 0 | 1): Buffer {
  const f = Buffer.from(filter, 'utf8');
  const { buf, off } = frame(0x82, 2 + 2 + f.length + 1);
  buf.writeUInt16BE(packetId, off);
  const o = writeString(buf, off + 2, f);
  buf[o] = qos;
  return buf;
}

export interface PublishTemplate {
  /** The encoded packet (packet id 1 when QoS 1). */
  packet: Buffer;
  /** Offset of the payload inside `packet`. */
  payloadOffset: number;
  /** Offset of the 2-byte packet id, or -1 for QoS 0. */
  packetIdOffset: number;
}

export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1): PublishTemplate {
  const t = Buffer.from(topic, 'utf8');
  const idLen = qos > 0 ? 2 : 0;
  const { buf, off } = frame(0x30 | (qos << 1), 2 + t.length + idLen + payload.length);
  let o = writeString(buf, off, t);
  let packetIdOffset = -1;
  if (qos > 0) {
    packetIdOffset = o;
    buf.writeUInt16BE(1, o);
    o += 2;
  }
  payload.copy(buf, o);
  return { packet: buf, payloadOffset: o, packetIdOffset };
}

export function encodePuback(packetId: number): Buffer {
  return Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]);
}

export const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);
export const DISCONNECT: Buffer = Buffer.from([0xe0, 0x00]);

export interface FrameSink {
  /**
   * Called synchronously for every complete frame. `buf` is only valid during the call (it may be
   * a reused read buffer). `header` is the first byte, the body spans [bodyStart, end).
   */
  onFrame(buf: Buffer, header: number, bodyStart: number, end: number): void;
}

export class ProtocolError extends Error {}

/**
 * Splits a TCP byte stream into MQTT frames. Complete frames inside a chunk are dispatched in place;
 * only a frame straddling two chunks is copied (just that frame, not the whole chunk), so the
 * caller may reuse its read buffer after `push` returns.
 */
export class FrameSplitter {
  private pending: Buffer | null = null;
  private bodyStart = 0;

  constructor(private readonly sink: FrameSink) {}

  /** Total frame length at `off` (header included), -1 if the header is incomplete. */
  private frameLength(buf: Buffer, off: number, end: number): number {
    let mul = 1;
    let len = 0;
    let p = off + 1;
    for (let i = 0; i < 4; i++) {
      if (p >= end) return -1;
      const b = buf[p++]!;
      len += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (len > MAX_FRAME) throw new ProtocolError(`frame too large: ${len}`);
        this.bodyStart = p;
        return p - off + len;
      }
      mul *= 128;
    }
    throw new ProtocolError('malformed remaining length');
  }

  push(chunk: Buffer, len: number = chunk.length): void {
    let off = 0;
    const sink = this.sink;
    if (this.pending !== null) {
      const prev = this.pending;
      let total = this.frameLength(prev, 0, prev.length);
      if (total === -1) {
        // Header incomplete: look at most 4 more header bytes from the chunk.
        const merged = Buffer.concat([prev, chunk.subarray(0, Math.min(len, 4))]);
        total = this.frameLength(merged, 0, merged.length);
        if (total === -1) {
          this.pending = Buffer.concat([prev, chunk.subarray(0, len)]);
          return;
        }
      }
      const missing = total - prev.length; // >= 1: `prev` never holds a complete frame
      if (missing > len) {
        this.pending = Buffer.concat([prev, chunk.subarray(0, len)]);
        return;
      }
      const whole = Buffer.concat([prev, chunk.subarray(0, missing)]);
      this.pending = null;
      off = missing;
      this.frameLength(whole, 0, whole.length); // sets bodyStart for `whole`
      sink.onFrame(whole, whole[0]!, this.bodyStart, total);
    }
    while (off < len) {
      const total = this.frameLength(chunk, off, len);
      if (total === -1 || off + total > len) {
        this.pending = Buffer.from(chunk.subarray(off, len));
        return;
      }
      const end = off + total;
      sink.onFrame(chunk, chunk[off]!, this.bodyStart, end);
      off = end;
    }
  }

  reset(): void {
    this.pending = null;
  }
}
