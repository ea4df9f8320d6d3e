/**
 * Realistic telemetry rows for the storage tests and benchmarks, a manual clock, and a scriptable in-memory store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type InvalidMessage,
  type MessageRow,
  type Row,
  SenMLError,
  type SenMLRow,
} from '../../../codecs/index.js';
import { BatchDecodeError, materialize } from '../../../storage/telemetry/batch-codec.js';
import type { Clock } from '../../../storage/telemetry/retry.js';
import {
  BatchRejectedError,
  type TelemetryBatch,
  type TelemetryStore,
} from '../../../storage/telemetry/types.js';

export interface RowOptions {
  channel?: string;
  publishers?: number;
  subtopics?: readonly string[];
  names?: readonly string[];
  /** Time of the first row (seconds). */
  start?: number;
  /** Seconds between consecutive rows of one publisher. */
  step?: number;
}

const NAMES = [
  'urn:dev:ow:10e2073a01080063:temp',
  'urn:dev:ow:10e2073a01080063:humidity',
  'voltage',
  'current',
];
const UNITS = ['Cel', '%RH', 'V', 'A'];

/**
 * `count` SenML rows as the codec pool produces them: a few publishers on one channel, rotating record names,
 * mostly numeric values with a few strings and booleans, every (time, channel, publisher, name, subtopic) unique.
 */
export function senmlRows(count: number, options: RowOptions = {}): SenMLRow[] {
  const channel = options.channel ?? 'c0a8e3f2-5b1d-4c6e-9f7a-2d4b6e8f0a1c';
  const publishers = options.publishers ?? 8;
  const subtopics = options.subtopics ?? ['', 'room1', 'plant/line-2'];
  const names = options.names ?? NAMES;
  const start = options.start ?? 1_750_000_000;
  const step = options.step ?? 0.001;
  const rows: SenMLRow[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = i % names.length;
    const kind = i % 20;
    rows[i] = {
      kind: 'senml',
      channel,
      subtopic: subtopics[i % subtopics.length]!,
      publisher: `thing-${i % publishers}`,
      protocol: i % 3 === 0 ? 'http' : 'mqtt',
      name: names[n]!,
      unit: names === NAMES ? UNITS[n] : undefined,
      value: kind < 17 ? 20 + (i % 100) / 10 : undefined,
      stringValue: kind === 17 ? `state, "ok"=${i}` : undefined,
      boolValue: kind === 18 ? i % 2 === 0 : undefined,
      dataValue: kind === 19 ? 'AQID' : undefined,
      sum: kind === 3 ? i : undefined,
      time: start + Math.floor(i / publishers) * step + (i % publishers) * 1e-6,
      updateTime: kind === 5 ? 60 : undefined,
    };
  }
  return rows;
}

export function messageRows(
  count: number,
  options: { channel?: string; created?: number } = {},
): MessageRow[] {
  const rows: MessageRow[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({
      kind: 'message',
      channel: options.channel ?? 'c0a8e3f2-5b1d-4c6e-9f7a-2d4b6e8f0a1c',
      subtopic: i % 2 === 0 ? 'e2e' : '',
      publisher: `thing-${i % 4}`,
      protocol: 'mqtt',
      contentType: i % 2 === 0 ? 'application/vnd.omap.megolm' : 'application/octet-stream',
      created: (options.created ?? 1_750_000_000_000) + i,
      payload: Buffer.from([i & 0xff, 0, 1, 2, 3, 0xff, (i >> 8) & 0xff]),
    });
  }
  return rows;
}

export function invalidMessages(count: number, options: { channel?: string } = {}): InvalidMessage[] {
  const out: InvalidMessage[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      envelope: {
        channel: options.channel ?? 'c0a8e3f2-5b1d-4c6e-9f7a-2d4b6e8f0a1c',
        subtopic: '',
        publisher: `thing-${i}`,
        protocol: 'http',
        contentType: 'application/senml+json',
        created: 1_750_000_000_000 + i,
        payload: Buffer.from(`[{"n":"temp","v":"${i}"}]`),
      },
      error: new SenMLError('type', 'v must be a number', 0, 'RFC 8428 Table 2', 'v'),
    });
  }
  return out;
}

/** A temporary folder removed by the returned function. */
export function tempDir(prefix = 'omap-telemetry-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

interface ManualTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/** A clock driven by the test: timers fire only in `advance`, in time order. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, ManualTimer>();

  constructor(start = 1_750_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: id, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers pending (for assertions). */
  get pending(): number {
    return this.#timers.size;
  }

  /** Delay until the next timer fires (Infinity when none). */
  get nextIn(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.#timers.values()) next = Math.min(next, t.at - this.#now);
    return next;
  }

  /** Moves time forward, firing due timers in order (a timer set by a callback fires too if it is due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, ManualTimer] | null = null;
      for (const entry of this.#timers) {
        if (
          entry[1].at <= end &&
          (due === null ||
            entry[1].at < due[1].at ||
            (entry[1].at === due[1].at && entry[1].seq < due[1].seq))
        ) {
          due = entry;
        }
      }
      if (due === null) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].callback();
    }
    this.#now = end;
  }
}

type StoreBehaviour = 'ok' | 'fail' | 'reject' | 'hang';

/**
 * An in-memory store whose next answers a test scripts: 'ok', 'fail' (retriable error), 'reject' (data error),
 * 'hang' (never settles). `rejectRow` refuses any batch containing a matching row (a poison row).
 */
export class ScriptedStore implements TelemetryStore {
  readonly kind = 'sqlite';
  /** Ask for spooled records as encoded parts (like the SQLite worker store). */
  takesEncoded = false;
  /** Every batch handed to `write`, as handed (encoded parts not decoded). */
  readonly received: TelemetryBatch[] = [];
  readonly written: TelemetryBatch[] = [];
  readonly script: StoreBehaviour[] = [];
  mode: StoreBehaviour = 'ok';
  rejectRow: ((row: Row) => boolean) | null = null;
  attempts = 0;
  abandoned = 0;
  closed = false;
  /** Called on every write attempt (for tests that await attempts). */
  onAttempt: ((batch: TelemetryBatch, behaviour: StoreBehaviour) => void) | null = null;

  async write(whole: TelemetryBatch): Promise<void> {
    this.received.push(whole);
    this.attempts++;
    let behaviour = this.script.shift() ?? this.mode;
    // Like the real stores: encoded parts (from the codec pool) are read as rows once the store is reached; bytes
    // that do not decode are a data error (the SQLite worker store answers the same).
    let batch: TelemetryBatch = whole;
    if (behaviour === 'ok') {
      try {
        batch = materialize(whole);
      } catch (error) {
        if (!(error instanceof BatchDecodeError)) throw error;
        behaviour = 'reject';
      }
    }
    if (behaviour === 'ok' && this.rejectRow !== null && batch.rows.some(this.rejectRow))
      behaviour = 'reject';
    this.onAttempt?.(batch, behaviour);
    switch (behaviour) {
      case 'ok':
        this.written.push(batch);
        return;
      case 'fail':
        throw new Error('connect ECONNREFUSED 127.0.0.1:9000');
      case 'reject':
        throw new BatchRejectedError('HTTP request failed, statusCode=400');
      case 'hang':
        return new Promise<void>(() => {});
    }
  }

  abandon(): void {
    this.abandoned++;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** All rows written, in order. */
  rows(): Row[] {
    return this.written.flatMap((b) => [...b.rows]);
  }
}
