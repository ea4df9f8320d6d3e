/**
 * The CoAP message format (RFC 7252 §3): a strict parser and a one-allocation encoder.
 *
 * Why not coap-packet here: `bench/coap/codec.bench.ts` measures it against this codec, and its parser
 * also accepts what RFC 7252 calls message format errors (a token or option running past the end of
 * the datagram is silently cut short, token lengths 9..15 are read, a payload marker with no payload
 * is allowed), which a server must answer with a Reset instead of acting on a garbled request.
 * Values returned by the parser are views into the datagram: copy what must outlive the callback.
 */
import type { MessageType } from './codes.js';

export interface CoapOption {
  readonly number: number;
  readonly value: Buffer;
}

/** An option to encode; a numeric value is written as a minimal big-endian unsigned integer. */
export interface OutgoingOption {
  readonly number: number;
  readonly value: Buffer | number;
}

const EMPTY: Buffer = Buffer.alloc(0);

export class CoapMessage {
  constructor(
    readonly type: MessageType,
    readonly code: number,
    readonly messageId: number,
    readonly token: Buffer,
    /** In wire order, hence ascending by number. */
    readonly options: readonly CoapOption[],
    readonly payload: Buffer,
  ) {}

  /** The first value of an option, or undefined. */
  option(number: number): Buffer | undefined {
    const options = this.options;
    for (let i = 0; i < options.length; i++) {
      const o = options[i]!;
      if (o.number === number) return o.value;
      if (o.number > number) return undefined;
    }
    return undefined;
  }

  /** Every value of a repeatable option (Uri-Path, Uri-Query...), in order. */
  optionValues(number: number): Buffer[] {
    const values: Buffer[] = [];
    for (const o of this.options) {
      if (o.number === number) values.push(o.value);
      else if (o.number > number) break;
    }
    return values;
  }

  /** An unsigned-integer option (RFC 7252 §3.2 uint), `undefined` if absent, -1 if longer than `maxBytes`. */
  uintOption(number: number, maxBytes = 4): number | undefined {
    const value = this.option(number);
    if (value === undefined) return undefined;
    return value.length > maxBytes ? -1 : readUint(value);
  }
}

/** Reads a big-endian unsigned integer of 0..4 bytes (leading zeros allowed, as RFC 7252 §3.2 says). */
export function readUint(value: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) n = n * 256 + value[i]!;
  return n;
}

export type FormatError =
  | 'too-short'
  | 'unknown-version'
  | 'token-length'
  | 'truncated'
  | 'empty-message-not-empty'
  | 'option-format'
  | 'payload-marker-without-payload';

/**
 * Parses one datagram. Returns the message, or why it is a message format error (RFC 7252 §3, §4.2:
 * a CON that fails here is answered with RST, anything else is ignored).
 */
export function parseMessage(buf: Buffer): CoapMessage | FormatError {
  const length = buf.length;
  if (length < 4) return 'too-short';
  const first = buf[0]!;
  if (first >> 6 !== 1) return 'unknown-version';
  const type = ((first >> 4) & 3) as MessageType;
  const tokenLength = first & 0x0f;
  if (tokenLength > 8) return 'token-length';
  const messageCode = buf[1]!;
  const messageId = (buf[2]! << 8) | buf[3]!;
  if (messageCode === 0) {
    // An Empty message is exactly the 4-byte header (RFC 7252 §4.1).
    if (length !== 4) return 'empty-message-not-empty';
    return new CoapMessage(type, 0, messageId, EMPTY, [], EMPTY);
  }
  let index = 4 + tokenLength;
  if (index > length) return 'truncated';
  const token = buf.subarray(4, index);
  const options: CoapOption[] = [];
  let number = 0;
  let payload: Buffer = EMPTY;
  while (index < length) {
    const byte = buf[index++]!;
    if (byte === 0xff) {
      if (index === length) return 'payload-marker-without-payload';
      payload = buf.subarray(index);
      break;
    }
    let delta = byte >> 4;
    let optionLength = byte & 0x0f;
    if (delta === 13) {
      if (index + 1 > length) return 'truncated';
      delta = buf[index++]! + 13;
    } else if (delta === 14) {
      if (index + 2 > length) return 'truncated';
      delta = ((buf[index]! << 8) | buf[index + 1]!) + 269;
      index += 2;
    } else if (delta === 15) {
      return 'option-format';
    }
    if (optionLength === 13) {
      if (index + 1 > length) return 'truncated';
      optionLength = buf[index++]! + 13;
    } else if (optionLength === 14) {
      if (index + 2 > length) return 'truncated';
      optionLength = ((buf[index]! << 8) | buf[index + 1]!) + 269;
      index += 2;
    } else if (optionLength === 15) {
      return 'option-format';
    }
    if (index + optionLength > length) return 'truncated';
    number += delta;
    options.push({ number, value: buf.subarray(index, index + optionLength) });
    index += optionLength;
  }
  return new CoapMessage(type, messageCode, messageId, token, options, payload);
}

/** Bytes needed for `n` as a minimal uint option value. */
function uintLength(n: number): number {
  return n === 0 ? 0 : n < 0x100 ? 1 : n < 0x1_0000 ? 2 : n < 0x100_0000 ? 3 : 4;
}

function extendedLength(n: number): number {
  return n < 13 ? 0 : n < 269 ? 1 : 2;
}

function nibble(n: number): number {
  return n < 13 ? n : n < 269 ? 13 : 14;
}

function writeExtended(out: Buffer, at: number, n: number): number {
  if (n < 13) return at;
  if (n < 269) {
    out[at] = n - 13;
    return at + 1;
  }
  out.writeUInt16BE(n - 269, at);
  return at + 2;
}

function byNumber(a: OutgoingOption, b: OutgoingOption): number {
  return a.number - b.number;
}

/**
 * Encodes a message into one freshly allocated buffer. Options may come in any order (they are sorted
 * if they are not ascending); the payload marker is written only when there is a payload.
 */
export function encodeMessage(
  type: MessageType,
  messageCode: number,
  messageId: number,
  token: Uint8Array,
  options: readonly OutgoingOption[] | null,
  payload: Uint8Array | null,
): Buffer {
  let size = 4 + token.length;
  let sorted = options;
  if (options !== null && options.length > 0) {
    for (let i = 1; i < options.length; i++) {
      if (options[i]!.number < options[i - 1]!.number) {
        sorted = [...options].sort(byNumber);
        break;
      }
    }
    let previous = 0;
    for (const o of sorted!) {
      const delta = o.number - previous;
      const valueLength = typeof o.value === 'number' ? uintLength(o.value) : o.value.length;
      size += 1 + extendedLength(delta) + extendedLength(valueLength) + valueLength;
      previous = o.number;
    }
  }
  const payloadLength = payload === null ? 0 : payload.length;
  if (payloadLength > 0) size += 1 + payloadLength;

  const out = Buffer.allocUnsafe(size);
  out[0] = 0x40 | (type << 4) | token.length;
  out[1] = messageCode;
  out[2] = messageId >> 8;
  out[3] = messageId & 0xff;
  out.set(token, 4);
  let at = 4 + token.length;
  if (sorted !== null) {
    let previous = 0;
    for (const o of sorted) {
      const delta = o.number - previous;
      const value = o.value;
      const valueLength = typeof value === 'number' ? uintLength(value) : value.length;
      out[at++] = (nibble(delta) << 4) | nibble(valueLength);
      at = writeExtended(out, at, delta);
      at = writeExtended(out, at, valueLength);
      if (typeof value === 'number') {
        for (let shift = (valueLength - 1) * 8; shift >= 0; shift -= 8)
          out[at++] = (value / 2 ** shift) & 0xff;
      } else {
        out.set(value, at);
        at += valueLength;
      }
      previous = o.number;
    }
  }
  if (payloadLength > 0) {
    out[at++] = 0xff;
    out.set(payload!, at);
  }
  return out;
}

/** An Empty message (ACK, RST or CON ping): the 4-byte header alone. */
export function encodeEmpty(type: MessageType, messageId: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out[0] = 0x40 | (type << 4);
  out[1] = 0;
  out[2] = messageId >> 8;
  out[3] = messageId & 0xff;
  return out;
}

/** Reads type and message id from a datagram that failed to parse, to Reset a CON (RFC 7252 §4.2). */
export function peekHeader(buf: Buffer): { type: MessageType; messageId: number } | null {
  if (buf.length < 4 || buf[0]! >> 6 !== 1) return null;
  return { type: ((buf[0]! >> 4) & 3) as MessageType, messageId: (buf[2]! << 8) | buf[3]! };
}
