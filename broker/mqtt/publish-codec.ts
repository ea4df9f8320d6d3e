/**
 * The hand-written PUBLISH fast path: reading and writing the packet that is 99% of the traffic.
 *
 * mqtt-packet handles every other packet (and PUBLISH with MQTT 5 properties); these functions skip
 * its per-packet objects and stream writes but keep its checks: QoS 3, packet id 0, wildcards, U+0000
 * and ill-formed UTF-8 in the topic are all refused.
 */
import { checkTopicNameBytes, type TopicError, type TopicLimits } from '../core/topic.js';

export type PublishReadError = 'malformed' | 'invalid-qos' | 'zero-packet-id' | TopicError;

/** A reusable holder for one parsed PUBLISH, so the fast path allocates only the topic and payload view. */
export class PublishFields {
  topic = '';
  payload: Buffer = Buffer.alloc(0);
  qos: 0 | 1 | 2 = 0;
  retain = false;
  dup = false;
  packetId = 0;
  /** MQTT 5 only: the packet carries properties, so mqtt-packet must parse it. */
  hasProperties = false;
}

/** Decodes the byte length of a variable-byte integer at `at`, or -1 if malformed/truncated. */
function readVarInt(buf: Buffer, at: number, end: number, out: { value: number }): number {
  let value = 0;
  let multiplier = 1;
  for (let i = at; i < end && i < at + 4; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) {
      out.value = value;
      return i + 1 - at;
    }
    multiplier *= 128;
  }
  return -1;
}

const scratchInt = { value: 0 };

/** Topics up to this many bytes are remembered by a TopicMemo. */
const MEMO_BYTES = 64;

/**
 * The last topic name one connection published to. A client usually publishes to the same topic
 * again and again: then its bytes are compared with the remembered ones instead of being checked and
 * decoded, and the same string is reused (its hash stays cached for the Map lookups that follow).
 */
export class TopicMemo {
  readonly bytes = Buffer.allocUnsafe(MEMO_BYTES);
  length = -1;
  topic = '';

  /** The remembered topic if `buf[start, end)` holds its bytes, else undefined. */
  match(buf: Buffer, start: number, end: number): string | undefined {
    const n = end - start;
    if (n !== this.length) return undefined;
    const bytes = this.bytes;
    for (let i = 0; i < n; i++) if (bytes[i] !== buf[start + i]) return undefined;
    return this.topic;
  }

  /** Remembers a topic name that passed the checks. */
  remember(buf: Buffer, start: number, end: number, topic: string): void {
    if (end - start > MEMO_BYTES) return;
    buf.copy(this.bytes, 0, start, end);
    this.length = end - start;
    this.topic = topic;
  }
}

/**
 * Parses the PUBLISH in `buf[start, end)` into `out`; returns null or the reason it was refused.
 * With a `memo`, a topic name equal to the connection's previous one is neither checked nor decoded again.
 */
export function readPublish(
  buf: Buffer,
  start: number,
  bodyStart: number,
  end: number,
  v5: boolean,
  limits: TopicLimits,
  out: PublishFields,
  memo?: TopicMemo,
): PublishReadError | null {
  const flags = buf[start]! & 0x0f;
  const qos = (flags >> 1) & 3;
  if (qos === 3) return 'invalid-qos';
  if (qos === 0 && (flags & 0x08) !== 0) return 'malformed'; // DUP must be 0 for QoS 0 (MQTT-3.3.1-2)
  let p = bodyStart;
  if (p + 2 > end) return 'malformed';
  const topicLength = (buf[p]! << 8) | buf[p + 1]!;
  p += 2;
  const topicEnd = p + topicLength;
  if (topicEnd > end) return 'malformed';
  let packetId = 0;
  let q = topicEnd;
  if (qos > 0) {
    if (q + 2 > end) return 'malformed';
    packetId = (buf[q]! << 8) | buf[q + 1]!;
    if (packetId === 0) return 'zero-packet-id';
    q += 2;
  }
  out.hasProperties = false;
  if (v5) {
    const n = readVarInt(buf, q, end, scratchInt);
    if (n < 0) return 'malformed';
    if (scratchInt.value > 0) {
      // Properties (topic alias among them) need mqtt-packet; the topic may legitimately be empty.
      out.hasProperties = true;
      return null;
    }
    q += n;
  }
  const known = memo?.match(buf, p, topicEnd);
  if (known !== undefined) {
    out.topic = known;
  } else {
    const topicError = checkTopicNameBytes(buf, p, topicEnd, limits);
    if (topicError !== null) return topicError;
    out.topic = buf.toString('utf8', p, topicEnd);
    memo?.remember(buf, p, topicEnd, out.topic);
  }
  out.payload = buf.subarray(q, end);
  out.qos = qos as 0 | 1 | 2;
  out.retain = (flags & 1) === 1;
  out.dup = (flags & 0x08) !== 0;
  out.packetId = packetId;
  return null;
}

function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeVarInt(buf: Buffer, at: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[at++] = b;
  } while (n > 0);
  return at;
}

/** Size in bytes of a PUBLISH without properties (see `writePublishInto`). */
export function publishSize(topicBytes: number, payloadLength: number, qos: 0 | 1 | 2, v5: boolean): number {
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadLength;
  return 1 + varIntSize(remaining) + remaining;
}

/**
 * Writes a PUBLISH without properties (MQTT 3.1.1, or MQTT 5 with an empty property list) into `buf`
 * at `at`, which has room for `publishSize(...)` bytes; returns the offset after it.
 */
export function writePublishInto(
  buf: Buffer,
  at: number,
  topic: string,
  topicBytes: number,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  dup: boolean,
  packetId: number,
  v5: boolean,
): number {
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
  buf[at] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  let p = writeVarInt(buf, at + 1, remaining);
  buf[p++] = topicBytes >> 8;
  buf[p++] = topicBytes & 0xff;
  p += buf.write(topic, p, topicBytes, 'utf8');
  if (qos > 0) {
    buf[p++] = packetId >> 8;
    buf[p++] = packetId & 0xff;
  }
  if (v5) buf[p++] = 0;
  buf.set(payload, p);
  return p + payload.length;
}

/**
 * Encodes a PUBLISH without properties (MQTT 3.1.1, or MQTT 5 with an empty property list).
 * The result is one buffer, so it can be written as-is to any number of sockets.
 */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  dup: boolean,
  packetId: number,
  v5: boolean,
): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const buf = Buffer.allocUnsafe(publishSize(topicBytes, payload.length, qos, v5));
  writePublishInto(buf, 0, topic, topicBytes, payload, qos, retain, dup, packetId, v5);
  return buf;
}

/**
 * Writes PUBACK, PUBREC, PUBREL or PUBCOMP into `buf` at `at`: 4 bytes, or 5 with an MQTT 5 reason code other than
 * success. Returns the offset after it.
 */
export function writeAckInto(
  buf: Buffer,
  at: number,
  type: 4 | 5 | 6 | 7,
  packetId: number,
  reasonCode = 0,
): number {
  buf[at] = (type << 4) | (type === 6 ? 0x02 : 0);
  buf[at + 1] = reasonCode === 0 ? 2 : 3;
  buf[at + 2] = packetId >> 8;
  buf[at + 3] = packetId & 0xff;
  if (reasonCode === 0) return at + 4;
  buf[at + 4] = reasonCode;
  return at + 5;
}

export const PINGRESP = Buffer.from([0xd0, 0x00]);
