/** The disk spool: order, acknowledgement cursor, rotation, torn-record recovery, corruption, lock, limits. */
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32, crc32Portable } from '../../../storage/telemetry/crc32.js';
import {
  DiskSpool,
  SpoolFullError,
  SpoolLockedError,
  type SpoolOptions,
} from '../../../storage/telemetry/spool.js';
import { ManualClock, tempDir } from './fixtures.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function dir(): string {
  const t = tempDir('omap-spool-');
  cleanups.push(t.remove);
  return t.dir;
}

function open(options: SpoolOptions): DiskSpool {
  const spool = DiskSpool.open(options);
  cleanups.push(() => spool.close());
  return spool;
}

function record(seq: number, size = 100) {
  return { seq, acceptedAt: 1000 + seq, rows: seq * 10, data: Buffer.alloc(size, seq & 0xff) };
}

function drain(spool: DiskSpool): number[] {
  const seqs: number[] = [];
  for (let r = spool.peek(); r !== null; r = spool.peek()) {
    expect(r.data.every((b) => b === (r.seq & 0xff))).toBe(true);
    seqs.push(r.seq);
    spool.ack();
  }
  return seqs;
}

function segments(path: string): string[] {
  return readdirSync(path)
    .filter((f) => f.endsWith('.seg'))
    .sort();
}

describe('DiskSpool', () => {
  it('keeps records in order with their metadata and counts, and cleans up when drained', async () => {
    const path = dir();
    const spool = open({ dir: path });
    expect(spool.isEmpty).toBe(true);
    for (let i = 1; i <= 5; i++) spool.append(record(i));
    expect(spool.records).toBe(5);
    expect(spool.rows).toBe(150);
    expect(spool.bytes).toBe(5 * (8 + 21 + 100));
    expect(spool.lastSeq).toBe(5);
    const head = spool.peek()!;
    expect(head).toMatchObject({ seq: 1, acceptedAt: 1001, rows: 10 });
    expect(spool.peek()).toBe(head); // cached until acknowledged
    expect(drain(spool)).toEqual([1, 2, 3, 4, 5]);
    expect(spool.isEmpty).toBe(true);
    expect(spool.bytes).toBe(0);
    expect(readdirSync(path).sort()).toEqual(['spool.lock']);
    await spool.close();
    expect(readdirSync(path)).toEqual([]);
  });

  it('survives a reopen: unacknowledged records come back, acknowledged ones do not', async () => {
    const path = dir();
    const first = DiskSpool.open({ dir: path });
    for (let i = 1; i <= 6; i++) first.append(record(i));
    first.peek();
    first.ack();
    first.peek();
    first.ack();
    await first.close();
    const second = open({ dir: path });
    expect(second.recovery).toEqual({ segments: 1, records: 4, truncatedBytes: 0 });
    expect(second.lastSeq).toBe(6);
    expect(second.rows).toBe(30 + 40 + 50 + 60);
    second.append(record(7));
    expect(drain(second)).toEqual([3, 4, 5, 6, 7]);
  });

  it('writes the cursor at most every cursorIntervalMs while acknowledging, and at close', async () => {
    const path = dir();
    const clock = new ManualClock();
    const spool = DiskSpool.open({ dir: path, clock, cursorIntervalMs: 1000 });
    for (let i = 1; i <= 5; i++) spool.append(record(i));
    const cursor = (): { offset: number } => JSON.parse(readFileSync(join(path, 'cursor'), 'utf8'));
    const size = statSync(join(path, segments(path)[0]!)).size / 5;
    expect(cursor().offset).toBe(0); // written when the segment was started
    for (let i = 0; i < 3; i++) {
      spool.peek();
      spool.ack();
    }
    expect(cursor().offset).toBe(0); // not yet
    clock.advance(1000);
    expect(cursor().offset).toBe(3 * size);
    spool.peek();
    spool.ack();
    await spool.close();
    expect(cursor().offset).toBe(4 * size);
    const again = open({ dir: path });
    expect(drain(again)).toEqual([5]);
  });

  it('rotates segments and deletes each one once it is consumed', () => {
    const path = dir();
    const spool = open({ dir: path, segmentBytes: 400 });
    for (let i = 1; i <= 9; i++) spool.append(record(i)); // 129 bytes each: 3 per segment
    expect(segments(path)).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      spool.peek();
      spool.ack();
    }
    spool.peek(); // moves on to the next segment
    expect(segments(path)).toHaveLength(2);
    expect(drain(spool)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(segments(path)).toHaveLength(0);
  });

  it('cuts off a torn last record (a crash during an append) and never replays it', async () => {
    const path = dir();
    const first = DiskSpool.open({ dir: path });
    for (let i = 1; i <= 4; i++) first.append(record(i));
    await first.close();
    const [segment] = segments(path);
    const file = join(path, segment!);
    const size = statSync(file).size;
    truncateSync(file, size - 37); // the last record loses its tail
    const second = open({ dir: path });
    expect(second.recovery.truncatedBytes).toBe(129 - 37);
    expect(second.records).toBe(3);
    expect(statSync(file).size).toBe(3 * 129);
    second.append(record(5));
    expect(drain(second)).toEqual([1, 2, 3, 5]);
  });

  it('cuts off a torn frame header and trailing garbage too', async () => {
    const path = dir();
    const first = DiskSpool.open({ dir: path });
    first.append(record(1));
    first.append(record(2));
    await first.close();
    const file = join(path, segments(path)[0]!);
    const fd = openSync(file, 'a');
    writeSync(fd, Buffer.from([0x40, 0x00])); // half a length field
    closeSync(fd);
    const second = DiskSpool.open({ dir: path });
    expect(second.recovery.truncatedBytes).toBe(2);
    await second.close();
    // A full-looking record whose CRC does not match (garbage written over the tail).
    const good = statSync(file).size;
    const fd2 = openSync(file, 'a');
    const bogus = Buffer.alloc(8 + 21 + 10);
    bogus.writeUInt32LE(31, 0);
    bogus.writeUInt32LE(0xdeadbeef, 4);
    bogus.writeUInt8(1, 8);
    writeSync(fd2, bogus);
    closeSync(fd2);
    const third = open({ dir: path });
    expect(third.recovery.truncatedBytes).toBe(bogus.length);
    expect(statSync(file).size).toBe(good);
    expect(drain(third)).toEqual([1, 2]);
  });

  it('skips a corrupt record in an older segment with the rest of that segment, and counts it', async () => {
    const path = dir();
    const first = DiskSpool.open({ dir: path, segmentBytes: 400 });
    for (let i = 1; i <= 6; i++) first.append(record(i)); // segments [1,2,3] [4,5,6]
    await first.close();
    const older = join(path, segments(path)[0]!);
    const bytes = readFileSync(older);
    bytes[129 + 8 + 30]! ^= 0xff; // flip a data byte of record 2
    writeFileSync(older, bytes);
    const second = open({ dir: path, segmentBytes: 400 });
    expect(second.records).toBe(6); // older segments are only framed at open; the CRC is checked on read
    expect(drain(second)).toEqual([1, 4, 5, 6]);
    expect(second.corruptRecords).toBe(2); // record 2, and record 3 behind it
    expect(second.records).toBe(0);
  });

  it('refuses a second owner while the first is alive, and takes over a stale lock', async () => {
    const path = dir();
    const spool = DiskSpool.open({ dir: path });
    expect(() => DiskSpool.open({ dir: path })).toThrow(SpoolLockedError);
    await spool.close();
    writeFileSync(join(path, 'spool.lock'), '2147483646'); // a pid that does not exist
    const next = open({ dir: path });
    expect(next.isEmpty).toBe(true);
  });

  it('refuses appends past maxBytes without writing anything', () => {
    const path = dir();
    const spool = open({ dir: path, maxBytes: 300 });
    spool.append(record(1));
    spool.append(record(2));
    expect(() => spool.append(record(3))).toThrow(SpoolFullError);
    expect(spool.records).toBe(2);
    expect(drain(spool)).toEqual([1, 2]);
  });

  it('syncs under every fsync policy', async () => {
    for (const fsync of ['always', 'interval', 'never'] as const) {
      const path = dir();
      // 129-byte records in 300-byte segments: every other append rotates (the finished segment is synced).
      const spool = DiskSpool.open({ dir: path, fsync, fsyncIntervalMs: 1, segmentBytes: 300 });
      spool.append(record(1));
      await spool.sync();
      for (let i = 2; i <= 7; i++) spool.append(record(i));
      await spool.close();
      expect(segments(path)).toHaveLength(4);
      const again = open({ dir: path, fsync });
      expect(drain(again)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    }
  });
});

describe('crc32', () => {
  it('matches the IEEE check value and the portable implementation', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32Portable(Buffer.from('123456789'))).toBe(0xcbf43926);
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
    expect(crc32(data)).toBe(crc32Portable(data));
    expect(crc32(data.subarray(100), crc32(data.subarray(0, 100)))).toBe(crc32(data));
  });
});
