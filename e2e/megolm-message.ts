import { E2EError } from './errors.js';
import { MAC_LENGTH } from './megolm-cipher.js';
import { MAX_MESSAGE_INDEX } from './ratchet.js';

/**
 * The Megolm group message, version 3 (libolm byte layout):
 *
 *   0x03 | 0x08 varint(index) | 0x12 varint(n) ciphertext[n] | MAC[8] | Ed25519 signature[64]
 *
 * The middle part is protobuf (field 1 varint, field 2 bytes). The MAC covers everything before it;
 * the signature covers everything before it, MAC included.
 */

export const MESSAGE_VERSION = 0x03;
export const SIGNATURE_LENGTH = 64;
const INDEX_TAG = 0x08; // field 1, wire type 0
const CIPHERTEXT_TAG = 0x12; // field 2, wire type 2
const TRAILER_LENGTH = MAC_LENGTH + SIGNATURE_LENGTH;

/** Number of bytes of the base-128 little-endian varint of a non-negative safe integer. */
export function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

/** Writes a varint at `offset`; returns the offset after it. */
export function writeVarint(out: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[offset++] = value;
  return offset;
}

/** Total message length for a given index and ciphertext length. */
export function messageLength(index: number, ciphertextLength: number): number {
  return 3 + varintLength(index) + varintLength(ciphertextLength) + ciphertextLength + TRAILER_LENGTH;
}

/**
 * Writes version, index and the ciphertext header into `out`; returns the offset where the
 * ciphertext goes. The caller fills ciphertext, MAC and signature in place (one allocation per message).
 */
export function writeMessageHeader(out: Buffer, index: number, ciphertextLength: number): number {
  out[0] = MESSAGE_VERSION;
  out[1] = INDEX_TAG;
  let offset = writeVarint(out, 2, index);
  out[offset++] = CIPHERTEXT_TAG;
  return writeVarint(out, offset, ciphertextLength);
}

/** A parsed message: views into the input, nothing copied. */
export interface ParsedMessage {
  readonly index: number;
  readonly ciphertext: Buffer;
  /** Bytes covered by the MAC (version through ciphertext). */
  readonly macInput: Buffer;
  readonly mac: Buffer;
  /** Bytes covered by the signature (everything but the signature). */
  readonly signedInput: Buffer;
  readonly signature: Buffer;
}

interface Cursor {
  offset: number;
}

// Reads a varint of at most 10 bytes; values above 2^53 are reported as Infinity so that callers
// can reject them as out of range without losing precision silently.
function readVarint(bytes: Buffer, end: number, cursor: Cursor): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (cursor.offset >= end) throw new E2EError('BAD_MESSAGE_FORMAT', 'truncated varint');
    const byte = bytes[cursor.offset++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : value;
    scale *= 0x80;
  }
  throw new E2EError('BAD_MESSAGE_FORMAT', 'varint longer than 10 bytes');
}

/**
 * Parses a version-3 message. Checks run in libolm's order: version, then format; signature and
 * MAC are checked by the session. Fields may come in any order and unknown fields are skipped
 * (protobuf rules, as libolm and vodozemac do); both known fields are required.
 */
export function parseMessage(input: Uint8Array): ParsedMessage {
  const bytes = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length === 0) throw new E2EError('BAD_MESSAGE_FORMAT', 'empty message');
  if (bytes[0] !== MESSAGE_VERSION) {
    throw new E2EError('BAD_MESSAGE_VERSION', `message version ${bytes[0]} is not ${MESSAGE_VERSION}`);
  }
  if (bytes.length < 1 + TRAILER_LENGTH) throw new E2EError('BAD_MESSAGE_FORMAT', 'message too short');
  const bodyEnd = bytes.length - TRAILER_LENGTH;
  const cursor: Cursor = { offset: 1 };
  let index: number | undefined;
  let ciphertext: Buffer | undefined;
  while (cursor.offset < bodyEnd) {
    const tag = readVarint(bytes, bodyEnd, cursor);
    const wireType = tag % 8;
    if (tag === INDEX_TAG) {
      const value = readVarint(bytes, bodyEnd, cursor);
      if (value > MAX_MESSAGE_INDEX) throw new E2EError('BAD_MESSAGE_FORMAT', 'message index exceeds u32');
      index = value;
    } else if (wireType === 2) {
      const length = readVarint(bytes, bodyEnd, cursor);
      if (length > bodyEnd - cursor.offset)
        throw new E2EError('BAD_MESSAGE_FORMAT', 'field overruns message');
      if (tag === CIPHERTEXT_TAG) ciphertext = bytes.subarray(cursor.offset, cursor.offset + length);
      cursor.offset += length;
    } else if (wireType === 0) {
      readVarint(bytes, bodyEnd, cursor);
    } else if (wireType === 1 || wireType === 5) {
      const width = wireType === 1 ? 8 : 4;
      if (width > bodyEnd - cursor.offset) throw new E2EError('BAD_MESSAGE_FORMAT', 'field overruns message');
      cursor.offset += width;
    } else {
      throw new E2EError('BAD_MESSAGE_FORMAT', `unsupported protobuf wire type ${wireType}`);
    }
  }
  if (index === undefined || ciphertext === undefined) {
    throw new E2EError('BAD_MESSAGE_FORMAT', 'message index or ciphertext missing');
  }
  return {
    index,
    ciphertext,
    macInput: bytes.subarray(0, bodyEnd),
    mac: bytes.subarray(bodyEnd, bodyEnd + MAC_LENGTH),
    signedInput: bytes.subarray(0, bodyEnd + MAC_LENGTH),
    signature: bytes.subarray(bodyEnd + MAC_LENGTH),
  };
}
