/**
 * The disk spool: an append-only FIFO of batches on disk, for outages longer than memory should bridge and for
 * batches still pending at shutdown. Replayed in order by the pipeline, also by the next process.
 *
 * Layout of the folder (owned by one process at a time, see `spool.lock`):
 *   00000000000000000001.seg …  segment files, appended in order, rotated at `segmentBytes`
 *   cursor                      {"segment": id, "offset": n}: first record not yet acknowledged by the store
 *   spool.lock                  pid of the owner
 *
 * Record framing (little endian):
 *   u32 length of body | u32 CRC-32 of body | body = u8 version | f64 seq | f64 acceptedAt (ms) | u32 rows | data
 *
 * Crash safety: a record is appended with one write and is visible to a later process once the write returns (the
 * page cache survives a process crash). At open the last segment is verified record by record; the first record
 * that is incomplete or fails its CRC — a torn write — is cut off (the file is truncated there), never replayed.
 * Older segments are synced when they are rotated (on the thread pool); a record that fails its CRC there is
 * skipped with the rest of its segment and counted (`corruptRecords`). Power loss can lose what the OS had not
 * written yet, depending on the fsync policy:
 *   'always'   fsync after every append (survives power loss; blocks the event loop for the fsync),
 *   'interval' fsync at most every `fsyncIntervalMs` on the thread pool (loses at most that window; default),
 *   'never'    leave it to the OS (survives process crashes, not power loss).
 * The cursor is rewritten (write + rename) at most every `cursorIntervalMs` while records are acknowledged (a
 * write + rename per batch cost the event loop ~5 % at 1M rows/s replayed), at once when a segment is dropped, and
 * at close. Losing its last update (a crash) only re-sends records the store already has, which the store's
 * de-duplication absorbs.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from './crc32.js';
import { type Clock, systemClock } from './retry.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface SpoolOptions {
  dir: string;
  /** A segment is closed and a new one started past this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Most bytes the spool may hold; `append` throws {@link SpoolFullError} beyond. Default 1 GiB. */
  maxBytes?: number;
  fsync?: FsyncPolicy;
  /** For 'interval'. Default 1000 ms. */
  fsyncIntervalMs?: number;
  /** Longest time an acknowledgement waits before the cursor file records it. Default 1000 ms; 0 = every ack. */
  cursorIntervalMs?: number;
  clock?: Clock;
}

export interface SpoolRecord {
  /** Pipeline sequence number (order of sealing). */
  seq: number;
  /** When the oldest row of the batch was accepted (ms since the epoch): the lag survives a restart. */
  acceptedAt: number;
  /** Items (rows + invalid messages) of the batch. */
  rows: number;
  data: Uint8Array;
}

/** What `open` found and repaired. */
export interface SpoolRecovery {
  segments: number;
  records: number;
  /** Bytes cut off the end of the last segment (a torn record). */
  truncatedBytes: number;
}

export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

export class SpoolLockedError extends Error {
  override readonly name = 'SpoolLockedError';
}

const FRAME = 8;
const META = 21;
const VERSION = 1;
/** Larger "lengths" are framing garbage, not records. */
const MAX_RECORD_BYTES = 1024 * 1024 * 1024;
const SEGMENT = /^(\d{20})\.seg$/;

interface Segment {
  id: number;
  path: string;
  /** End of the valid records (file size after recovery; reading stops here). */
  end: number;
  /** Unacknowledged records, rows, bytes of this segment. */
  records: number;
  rows: number;
  bytes: number;
}

interface Head {
  record: SpoolRecord;
  size: number;
}

function segmentName(id: number): string {
  return `${String(id).padStart(20, '0')}.seg`;
}

function readFully(fd: number, buffer: Uint8Array, position: number): number {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeFully(fd: number, buffer: Uint8Array): void {
  let done = 0;
  while (done < buffer.length) done += writeSync(fd, buffer, done, buffer.length - done);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DiskSpool {
  readonly dir: string;
  readonly recovery: SpoolRecovery;
  readonly #segmentBytes: number;
  readonly #maxBytes: number;
  readonly #policy: FsyncPolicy;
  readonly #fsyncIntervalMs: number;
  readonly #clock: Clock;
  readonly #lockPath: string;
  readonly #cursorPath: string;

  readonly #segments: Segment[] = [];
  /** Offset of the head record in `#segments[0]`. */
  #headOffset = 0;
  #head: Head | null = null;
  #readFd: number | null = null;
  #readFdSegment = -1;
  #writeFd: number | null = null;
  #nextId = 1;
  #records = 0;
  #rows = 0;
  #bytes = 0;
  #lastSeq = 0;
  #corruptRecords = 0;
  #syncTimer: unknown = null;
  #syncsInFlight = 0;
  #syncWaiters: Array<() => void> = [];
  /** Write fds of rotated segments whose async fsync has not finished: closed afterwards (fd numbers get reused). */
  #retiredFds: number[] = [];
  #dirty = false;
  readonly #cursorIntervalMs: number;
  #cursorTimer: unknown = null;
  #cursorWrittenAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.#segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.#maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.#policy = options.fsync ?? 'interval';
    this.#fsyncIntervalMs = options.fsyncIntervalMs ?? 1000;
    this.#cursorIntervalMs = options.cursorIntervalMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    this.#lockPath = join(this.dir, 'spool.lock');
    this.#cursorPath = join(this.dir, 'cursor');
    mkdirSync(this.dir, { recursive: true });
    this.#lock();
    try {
      this.recovery = this.#recover();
    } catch (error) {
      this.#unlock();
      throw error;
    }
  }

  /**
   * Opens (creating) the spool folder, takes its lock, drops consumed segments and truncates a torn last record.
   * @throws {SpoolLockedError} when a live process holds the folder.
   */
  static open(options: SpoolOptions): DiskSpool {
    return new DiskSpool(options);
  }

  get records(): number {
    return this.#records;
  }

  get rows(): number {
    return this.#rows;
  }

  /** Bytes of unacknowledged records (framing included). */
  get bytes(): number {
    return this.#bytes;
  }

  get isEmpty(): boolean {
    return this.#records === 0;
  }

  /** Highest sequence number ever appended (0 when none): the pipeline continues after it. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Records skipped because one failed its CRC or framing (outside the torn tail): it and the rest of its segment. */
  get corruptRecords(): number {
    return this.#corruptRecords;
  }

  /**
   * Appends one record (one write call). Throws {@link SpoolFullError} when it would pass `maxBytes`, or the I/O
   * error (the segment is then cut back to its previous end, so no partial record stays behind).
   */
  append(record: SpoolRecord): void {
    if (this.#closed) throw new Error('spool is closed');
    const size = FRAME + META + record.data.byteLength;
    if (this.#bytes + size > this.#maxBytes) {
      throw new SpoolFullError(`spool full: ${this.#bytes} + ${size} bytes > ${this.#maxBytes}`);
    }
    const frame = Buffer.allocUnsafe(FRAME + META);
    frame.writeUInt32LE(META + record.data.byteLength, 0);
    frame.writeUInt8(VERSION, 8);
    frame.writeDoubleLE(record.seq, 9);
    frame.writeDoubleLE(record.acceptedAt, 17);
    frame.writeUInt32LE(record.rows, 25);
    const crc = crc32(record.data, crc32(frame.subarray(FRAME)));
    frame.writeUInt32LE(crc, 4);
    let segment = this.#segments.at(-1);
    if (
      segment === undefined ||
      this.#writeFd === null ||
      (segment.end > 0 && segment.end + size > this.#segmentBytes)
    ) {
      segment = this.#rotate();
    }
    const fd = this.#writeFd!;
    try {
      writeFully(fd, Buffer.concat([frame, record.data]));
    } catch (error) {
      try {
        ftruncateSync(fd, segment.end);
      } catch {
        // The write error is the one to report; a leftover partial record is cut off at the next open.
      }
      throw error;
    }
    segment.end += size;
    segment.records++;
    segment.rows += record.rows;
    segment.bytes += size;
    this.#records++;
    this.#rows += record.rows;
    this.#bytes += size;
    if (record.seq > this.#lastSeq) this.#lastSeq = record.seq;
    this.#dirty = true;
    if (this.#policy === 'always') {
      fsyncSync(fd);
      this.#dirty = false;
    } else if (this.#policy === 'interval' && this.#syncTimer === null) {
      this.#syncTimer = this.#clock.setTimeout(() => {
        this.#syncTimer = null;
        void this.sync();
      }, this.#fsyncIntervalMs);
    }
  }

  /**
   * The oldest unacknowledged record (read from disk once, then cached until `ack`), or null when empty. A record
   * that fails its CRC is skipped with the rest of its segment (counted in `corruptRecords`).
   */
  peek(): SpoolRecord | null {
    if (this.#head !== null) return this.#head.record;
    if (this.#closed) return null;
    for (;;) {
      const segment = this.#segments[0];
      if (segment === undefined || this.#records === 0) return null;
      if (this.#headOffset >= segment.end) {
        if (this.#segments.length === 1) return null;
        this.#dropFirstSegment();
        continue;
      }
      const head = this.#readRecord(segment, this.#headOffset);
      if (head !== null) {
        this.#head = head;
        return head.record;
      }
      // Corrupt: nothing after it in this segment can be framed again. Count what the segment still held.
      this.#corruptRecords += Math.max(1, segment.records);
      this.#records -= segment.records;
      this.#rows -= segment.rows;
      this.#bytes -= segment.bytes;
      segment.records = 0;
      segment.rows = 0;
      segment.bytes = 0;
      this.#headOffset = segment.end;
      if (this.#segments.length === 1) {
        this.#reset();
        return null;
      }
    }
  }

  /** Acknowledges the record returned by `peek` (it is in the store) and persists the cursor. */
  ack(): void {
    const head = this.#head;
    if (head === null) throw new Error('ack() without a peeked record');
    this.#head = null;
    const segment = this.#segments[0]!;
    this.#headOffset += head.size;
    segment.records--;
    segment.rows -= head.record.rows;
    segment.bytes -= head.size;
    this.#records--;
    this.#rows -= head.record.rows;
    this.#bytes -= head.size;
    if (this.#records === 0) {
      this.#reset();
      return;
    }
    if (this.#headOffset >= segment.end && this.#segments.length > 1) this.#dropFirstSegment();
    else this.#cursorLater();
  }

  /** Writes the cursor now if it has not been written for `cursorIntervalMs`, else once that interval is over. */
  #cursorLater(): void {
    if (this.#cursorTimer !== null) return;
    const wait = this.#cursorWrittenAt + this.#cursorIntervalMs - this.#clock.now();
    if (wait <= 0) {
      this.#writeCursor();
      return;
    }
    this.#cursorTimer = this.#clock.setTimeout(() => {
      this.#cursorTimer = null;
      if (!this.#closed) this.#writeCursor();
    }, wait);
  }

  /** Flushes appended records to stable storage (fsync on the thread pool). */
  sync(): Promise<void> {
    if (this.#syncTimer !== null) {
      this.#clock.clearTimeout(this.#syncTimer);
      this.#syncTimer = null;
    }
    const fd = this.#writeFd;
    if (fd === null || !this.#dirty) return this.#whenSynced();
    this.#dirty = false;
    return this.#fsyncAsync(fd);
  }

  #fsyncAsync(fd: number): Promise<void> {
    this.#syncsInFlight++;
    return new Promise((resolve) => {
      fsync(fd, () => {
        // An fsync error (EIO) leaves nothing to retry here: the data stays in the page cache, and a record that
        // does not survive is caught by its CRC when read.
        this.#syncsInFlight--;
        if (this.#syncsInFlight === 0) this.#afterSyncs();
        resolve();
      });
    });
  }

  /** Syncs (unless the policy is 'never'), closes the files and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#cursorTimer !== null) {
      this.#clock.clearTimeout(this.#cursorTimer);
      this.#cursorTimer = null;
      this.#writeCursor();
    }
    if (this.#policy !== 'never') await this.sync();
    else if (this.#syncTimer !== null) this.#clock.clearTimeout(this.#syncTimer);
    await this.#whenSynced();
    this.#closed = true;
    this.#closeReadFd();
    if (this.#writeFd !== null) closeSync(this.#writeFd);
    this.#writeFd = null;
    this.#unlock();
  }

  // --- internals ---------------------------------------------------------------------------------------------------

  #whenSynced(): Promise<void> {
    if (this.#syncsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  #afterSyncs(): void {
    for (const fd of this.#retiredFds.splice(0)) closeSync(fd);
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
  }

  #lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.#lockPath, String(process.pid), { flag: 'wx' });
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const pid = Number(readFileSync(this.#lockPath, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new SpoolLockedError(
          `spool ${this.dir} is in use by process ${pid} (remove ${this.#lockPath} if that process is not OMAP)`,
        );
      }
      unlinkSync(this.#lockPath); // stale: its owner is gone
    }
    throw new SpoolLockedError(`cannot lock spool ${this.dir}`);
  }

  #unlock(): void {
    rmSync(this.#lockPath, { force: true });
  }

  #recover(): SpoolRecovery {
    const ids = readdirSync(this.dir)
      .map((name) => SEGMENT.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const cursor = this.#readCursor();
    let truncatedBytes = 0;
    for (const id of ids) {
      const path = join(this.dir, segmentName(id));
      this.#nextId = Math.max(this.#nextId, id + 1);
      if (cursor !== null && id < cursor.segment) {
        unlinkSync(path); // acknowledged before the last shutdown, not yet deleted
        continue;
      }
      this.#segments.push({ id, path, end: 0, records: 0, rows: 0, bytes: 0 });
    }
    if (cursor !== null && this.#segments[0]?.id === cursor.segment) this.#headOffset = cursor.offset;
    for (let i = 0; i < this.#segments.length; i++) {
      const segment = this.#segments[i]!;
      const last = i === this.#segments.length - 1;
      const start = i === 0 ? this.#headOffset : 0;
      const fd = openSync(segment.path, last ? 'r+' : 'r');
      try {
        const size = fstatSync(fd).size;
        const end = this.#scan(fd, segment, start, size, last);
        if (last && end < size) {
          // A torn tail: the last append of a crashed process. Cut it off so it is never read as a record.
          ftruncateSync(fd, end);
          if (this.#policy !== 'never') fsyncSync(fd);
          truncatedBytes += size - end;
        }
        segment.end = last ? end : size;
      } finally {
        closeSync(fd);
      }
      this.#records += segment.records;
      this.#rows += segment.rows;
      this.#bytes += segment.bytes;
    }
    if (this.#segments.length > 0 && this.#headOffset > this.#segments[0]!.end)
      this.#headOffset = this.#segments[0]!.end;
    const recovery = { segments: this.#segments.length, records: this.#records, truncatedBytes };
    if (this.#records === 0) this.#reset();
    return recovery;
  }

  /**
   * Walks the records of one segment from `start`, counting them. `verify` checks every CRC (the last segment,
   * where a torn write can be); older segments are framed only (their CRCs are checked when read). Returns the end
   * of the last good record.
   */
  #scan(fd: number, segment: Segment, start: number, size: number, verify: boolean): number {
    const frame = Buffer.allocUnsafe(FRAME + META);
    let offset = start;
    while (offset + FRAME + META <= size) {
      if (readFully(fd, frame, offset) < frame.length) break;
      const length = frame.readUInt32LE(0);
      if (length < META || length > MAX_RECORD_BYTES || offset + FRAME + length > size) break;
      if (frame.readUInt8(8) !== VERSION) break;
      if (verify) {
        const body = Buffer.allocUnsafe(length);
        if (readFully(fd, body, offset + FRAME) < length || crc32(body) !== frame.readUInt32LE(4)) break;
      }
      const seq = frame.readDoubleLE(9);
      if (seq > this.#lastSeq) this.#lastSeq = seq;
      segment.records++;
      segment.rows += frame.readUInt32LE(25);
      segment.bytes += FRAME + length;
      offset += FRAME + length;
    }
    return offset;
  }

  #readRecord(segment: Segment, offset: number): Head | null {
    if (this.#readFdSegment !== segment.id) {
      this.#closeReadFd();
      this.#readFd = openSync(segment.path, 'r');
      this.#readFdSegment = segment.id;
    }
    const fd = this.#readFd!;
    const frame = Buffer.allocUnsafe(FRAME);
    if (readFully(fd, frame, offset) < FRAME) return null;
    const length = frame.readUInt32LE(0);
    if (length < META || length > MAX_RECORD_BYTES || offset + FRAME + length > segment.end) return null;
    const body = Buffer.allocUnsafe(length);
    if (readFully(fd, body, offset + FRAME) < length) return null;
    if (crc32(body) !== frame.readUInt32LE(4) || body.readUInt8(0) !== VERSION) return null;
    return {
      size: FRAME + length,
      record: {
        seq: body.readDoubleLE(1),
        acceptedAt: body.readDoubleLE(9),
        rows: body.readUInt32LE(17),
        data: body.subarray(META),
      },
    };
  }

  #rotate(): Segment {
    const previous = this.#writeFd;
    if (previous !== null) {
      // The finished segment is synced on the thread pool (a synchronous fsync of up to a segment's worth of dirty
      // pages blocked the event loop ~180 ms in the outage benchmark) and closed once that is done.
      const needsSync = this.#policy !== 'never' && this.#dirty;
      this.#dirty = false;
      this.#retiredFds.push(previous);
      if (needsSync) void this.#fsyncAsync(previous);
      else if (this.#syncsInFlight === 0) this.#afterSyncs();
    }
    const id = this.#nextId++;
    const segment: Segment = {
      id,
      path: join(this.dir, segmentName(id)),
      end: 0,
      records: 0,
      rows: 0,
      bytes: 0,
    };
    this.#writeFd = openSync(segment.path, 'a');
    this.#segments.push(segment);
    if (this.#segments.length === 1) {
      this.#headOffset = 0;
      this.#writeCursor();
    }
    return segment;
  }

  #dropFirstSegment(): void {
    const segment = this.#segments.shift()!;
    if (this.#readFdSegment === segment.id) this.#closeReadFd();
    rmSync(segment.path, { force: true });
    this.#headOffset = 0;
    this.#writeCursor();
  }

  /** Everything acknowledged: delete all files, start the next append in a fresh segment. */
  #reset(): void {
    this.#closeReadFd();
    if (this.#writeFd !== null) {
      if (this.#syncsInFlight > 0) this.#retiredFds.push(this.#writeFd);
      else closeSync(this.#writeFd);
      this.#writeFd = null;
    }
    for (const segment of this.#segments.splice(0)) rmSync(segment.path, { force: true });
    if (this.#cursorTimer !== null) {
      this.#clock.clearTimeout(this.#cursorTimer);
      this.#cursorTimer = null;
    }
    rmSync(this.#cursorPath, { force: true });
    this.#headOffset = 0;
    this.#head = null;
    this.#records = 0;
    this.#rows = 0;
    this.#bytes = 0;
    this.#dirty = false;
  }

  #closeReadFd(): void {
    if (this.#readFd !== null) closeSync(this.#readFd);
    this.#readFd = null;
    this.#readFdSegment = -1;
  }

  #readCursor(): { segment: number; offset: number } | null {
    if (!existsSync(this.#cursorPath)) return null;
    try {
      const parsed = JSON.parse(readFileSync(this.#cursorPath, 'utf8')) as {
        segment?: unknown;
        offset?: unknown;
      };
      if (
        Number.isInteger(parsed.segment) &&
        Number.isInteger(parsed.offset) &&
        (parsed.offset as number) >= 0
      ) {
        return { segment: parsed.segment as number, offset: parsed.offset as number };
      }
    } catch {
      // A damaged cursor only means replaying from the first segment: the store de-duplicates.
    }
    return null;
  }

  #writeCursor(): void {
    if (this.#cursorTimer !== null) {
      this.#clock.clearTimeout(this.#cursorTimer);
      this.#cursorTimer = null;
    }
    this.#cursorWrittenAt = this.#clock.now();
    const segment = this.#segments[0];
    if (segment === undefined) return;
    const tmp = `${this.#cursorPath}.tmp`;
    const text = JSON.stringify({ segment: segment.id, offset: this.#headOffset });
    if (this.#policy === 'always') {
      const fd = openSync(tmp, 'w');
      try {
        writeFully(fd, Buffer.from(text));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else {
      writeFileSync(tmp, text);
    }
    renameSync(tmp, this.#cursorPath);
  }
}
