/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of spool records. Node's native `zlib.crc32` when present
 * (Node ≥ 20.15 / 22.2), a table-driven fallback otherwise; both give the same value.
 */
import * as zlib from 'node:zlib';

type Crc32Fn = (data: Uint8Array, initial?: number) => number;

let table: Uint32Array | null = null;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** Portable implementation (also the reference the tests compare the native one with). */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  table ??= makeTable();
  let crc = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as unknown as { crc32?: Crc32Fn }).crc32;

export const crc32: Crc32Fn =
  typeof native === 'function' ? (data, initial = 0) => native(data, initial) : crc32Portable;
