/**
 * The Block1/Block2 option value (RFC 7959 §2.2): NUM (block number), M (more blocks follow) and SZX
 * (block size 2^(SZX+4), 16..1024 bytes; SZX 7 is BERT, CoAP over TCP only).
 */
import { readUint } from './codec.js';

export interface BlockValue {
  num: number;
  more: boolean;
  szx: number;
}

/** Decodes a Block option value; `null` if it is longer than 3 bytes or uses the reserved SZX 7. */
export function decodeBlock(value: Buffer): BlockValue | null {
  if (value.length > 3) return null;
  const n = readUint(value);
  const szx = n & 7;
  if (szx === 7) return null;
  return { num: Math.floor(n / 16), more: (n & 8) !== 0, szx };
}

/** The uint to put in a Block option. */
export function encodeBlock(num: number, more: boolean, szx: number): number {
  return num * 16 + (more ? 8 : 0) + szx;
}

export function blockSizeOf(szx: number): number {
  return 1 << (szx + 4);
}

/** SZX of a power-of-two block size from 16 to 1024. */
export function szxOf(blockSize: number): number {
  return Math.log2(blockSize) - 4;
}

/** Largest block number the 20-bit NUM field can carry. */
export const MAX_BLOCK_NUM = 0xf_ffff;
