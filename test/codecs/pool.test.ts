import { Buffer } from 'node:buffer';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CodecPool,
  type CodecPoolOptions,
  decodeRowBatch,
  type EncodedRows,
  type Envelope,
  encodeSenMLCbor,
  envelopeToRows,
  type InvalidMessage,
  MessageSource,
  OCTET_STREAM,
  type Row,
  SENML_CBOR,
  SENML_JSON,
  SENSML_CBOR,
  SenMLError,
} from '../../codecs/index.js';

const CREATED = 1_700_000_000_000;

function env(i: number): Envelope {
  const pack = [
    { bn: `urn:dev:mac:${i % 7}:`, bu: 'Cel', n: 'temp', v: 20 + (i % 10), t: -1 },
    { n: 'hum', u: '%RH', v: 40 + (i % 3) },
    { n: 'label', vs: `m${i}` },
  ];
  const base = {
    channel: `c${i % 4}`,
    subtopic: i % 2 ? 'a/b' : '',
    publisher: `p${i % 9}`,
    protocol: 'mqtt',
  };
  switch (i % 8) {
    case 0:
    case 1:
    case 2:
      return {
        ...base,
        contentType: SENML_JSON,
        created: CREATED + i,
        payload: Buffer.from(JSON.stringify(pack)),
      };
    case 3:
    case 4:
      return { ...base, contentType: SENML_CBOR, created: CREATED + i, payload: encodeSenMLCbor(pack) };
    case 5:
      return {
        ...base,
        contentType: SENSML_CBOR,
        created: CREATED + i,
        payload: encodeSenMLCbor(pack.slice(0, 1)),
      };
    case 6:
      return {
        ...base,
        contentType: i % 16 === 6 ? OCTET_STREAM : 'application/x-omap-e2e',
        created: CREATED + i,
        payload: Uint8Array.from([i & 0xff, 1, 2]),
      };
    default:
      return {
        ...base,
        contentType: SENML_JSON,
        created: CREATED + i,
        payload: Buffer.from(`[{"n":"bad#${i}","v":1}]`),
      };
  }
}

/** Rows the pool must deliver for one batch: SenML rows in message order, then whole-message rows. */
function expectedBatch(batch: readonly Envelope[]): { rows: Row[]; invalid: number[] } {
  const senml: Row[] = [];
  const messages: Row[] = [];
  const invalid: number[] = [];
  for (const e of batch) {
    const out = envelopeToRows(e);
    if (out.error !== null) invalid.push(e.created);
    for (const row of out.rows) (row.kind === 'senml' ? senml : messages).push(row);
  }
  return { rows: [...senml, ...messages], invalid };
}

function plain(rows: readonly Row[]): unknown[] {
  return rows.map((r) => (r.kind === 'message' ? { ...r, payload: [...r.payload] } : r));
}

interface Delivery {
  rows: Row[];
  invalid: InvalidMessage[];
}

interface Waiter {
  test: () => boolean;
  resolve: () => void;
}

/** A sink that records deliveries and lets a test await the next one (or a condition) instead of sleeping. */
class Sink {
  readonly deliveries: Delivery[] = [];
  #waiters: Waiter[] = [];
  hold: Promise<void> | null = null;
  failNext = false;

  readonly onRows = (rows: Row[], invalid: InvalidMessage[]): void | Promise<void> => {
    this.deliveries.push({ rows, invalid });
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.test()) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('sink failed');
    }
    return this.hold ?? undefined;
  };

  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  get rows(): Row[] {
    return this.deliveries.flatMap((d) => d.rows);
  }
}

const pools: CodecPool[] = [];
function pool(options: Partial<CodecPoolOptions>): CodecPool {
  const p = new CodecPool({ threads: 2, ...options });
  pools.push(p);
  return p;
}

afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
});

/** Resolves with how many of `workers` have emitted 'exit' (listeners attached before the pool is closed). */
function exits(workers: readonly Worker[]): { count: () => number } {
  let n = 0;
  for (const w of workers) w.once('exit', () => n++);
  return { count: () => n };
}

describe('CodecPool', () => {
  it('resolves SenML on worker threads into rows, keeps other types whole, returns invalid SenML, and closes cleanly', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 64, flushIntervalMs: 60_000 });
    const list = Array.from({ length: 300 }, (_, i) => env(i));
    for (const e of list) expect(p.push(e)).toBe(true);
    await p.drain();

    const batches = [0, 64, 128, 192, 256].map((start) => list.slice(start, start + 64));
    expect(sink.deliveries).toHaveLength(batches.length);
    batches.forEach((batch, k) => {
      const want = expectedBatch(batch);
      const got = sink.deliveries[k]!;
      expect(plain(got.rows)).toEqual(plain(want.rows));
      expect(got.invalid.map((x) => x.envelope.created)).toEqual(want.invalid);
    });
    const invalid = sink.deliveries.flatMap((d) => d.invalid);
    expect(invalid.length).toBeGreaterThan(0);
    for (const entry of invalid) {
      expect(entry.error).toBeInstanceOf(SenMLError);
      expect(entry.error).toMatchObject({ code: 'name', index: 0 });
      const original = list.find((e) => e.created === entry.envelope.created)!;
      expect({ ...entry.envelope, payload: [...entry.envelope.payload] }).toEqual({
        ...original,
        payload: [...original.payload],
      });
    }
    const stats = p.stats;
    expect(stats).toMatchObject({
      accepted: 300,
      batches: 5,
      delivered: 300,
      rows: sink.rows.length,
      invalid: invalid.length,
      droppedOverload: 0,
      failed: 0,
      open: 0,
      pending: 0,
      inFlight: 0,
      threads: 2,
    });

    const workers = [...p.threads];
    expect(workers).toHaveLength(2);
    const exited = exits(workers);
    const closing = p.close();
    expect(p.close()).toBe(closing);
    await closing;
    expect(exited.count()).toBe(2); // close resolves only once every thread has exited
    expect(workers.every((w) => w.threadId === -1)).toBe(true);
    expect(p.stats.threads).toBe(0);
  });

  it('reuses batch and column buffers across rounds without mixing rows', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 32, flushIntervalMs: 60_000, threads: 1 });
    let start = 0;
    for (const count of [64, 5, 90, 1, 40, 64, 7]) {
      // each round waits for the previous one: its buffers have come back and are lent out again
      const list = Array.from({ length: count }, (_, i) => env(start + i));
      start += count;
      const before = sink.deliveries.length;
      for (const e of list) p.push(e);
      await p.drain();
      const got = sink.deliveries.slice(before).flatMap((d) => d.rows);
      const want: Row[] = [];
      for (let k = 0; k < list.length; k += 32) want.push(...expectedBatch(list.slice(k, k + 32)).rows);
      expect(plain(got)).toEqual(plain(want));
    }
  });

  it('seals a full batch at once, without waiting for the timer', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 8, flushIntervalMs: 60_000 });
    for (let i = 0; i < 8; i++) p.push(env(i * 8)); // JSON, 3 records each
    await sink.until(() => sink.rows.length === 24);
    expect(p.stats).toMatchObject({ batches: 1, open: 0 });
  });

  it('seals a partial batch after flushIntervalMs', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 1000, flushIntervalMs: 10 });
    p.push(env(0));
    p.push(env(3));
    expect(p.stats.open).toBe(2);
    await sink.until(() => sink.rows.length === 6);
    expect(p.stats).toMatchObject({ batches: 1, open: 0, delivered: 2 });
  });

  it('under overload never blocks push: batches wait in a bounded FIFO, beyond it they are dropped and counted', async () => {
    const sink = new Sink();
    let release = (): void => {};
    sink.hold = new Promise((resolve) => {
      release = resolve;
    });
    const p = pool({
      onRows: sink.onRows,
      batchSize: 10,
      maxQueue: 1,
      maxPending: 1,
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 50; i++) expect(p.push(env(i * 8))).toBe(true);
    // batch 1 in flight, batch 2 waiting, then every message dropped at push (no batch even started): push
    // returned every time, synchronously
    expect(p.stats).toMatchObject({
      accepted: 50,
      batches: 1,
      pending: 1,
      inFlight: 1,
      open: 0,
      droppedOverload: 30,
      droppedBatches: 0,
    });
    expect(p.saturated).toBe(true);
    await sink.until(() => sink.deliveries.length === 1); // the slow sink holds batch 1
    expect(p.stats).toMatchObject({ inFlight: 1, pending: 1, delivered: 10 });
    let unsaturated = false;
    const waiting = p.whenUnsaturated().then(() => {
      unsaturated = true;
    });
    expect(unsaturated).toBe(false);
    sink.hold = null;
    release();
    await p.drain();
    await waiting;
    expect(unsaturated).toBe(true);
    const stats = p.stats;
    expect(stats).toMatchObject({ delivered: 20, droppedOverload: 30, rows: 60, pending: 0, inFlight: 0 });
    expect(stats.accepted).toBe(stats.delivered + stats.droppedOverload);
  });

  it('copies payloads in push: the caller may reuse its buffers at once', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 2, flushIntervalMs: 60_000 });
    const json = Buffer.from('[{"n":"a","v":1}]');
    const binary = Uint8Array.from([7, 7, 7]);
    p.push({ ...env(0), payload: json });
    p.push({ ...env(6), contentType: OCTET_STREAM, payload: binary });
    json.fill(0x20);
    binary.fill(0);
    await p.drain();
    expect(sink.rows).toEqual([
      expect.objectContaining({ kind: 'senml', name: 'a', value: 1 }),
      expect.objectContaining({ kind: 'message' }),
    ]);
    const message = sink.rows[1]!;
    expect(message.kind === 'message' && [...message.payload]).toEqual([7, 7, 7]);
  });

  it('counts and reports a failing sink, and keeps delivering', async () => {
    const sink = new Sink();
    const errors: Error[] = [];
    const p = pool({
      onRows: sink.onRows,
      onError: (e) => errors.push(e),
      batchSize: 4,
      flushIntervalMs: 60_000,
    });
    sink.failNext = true;
    for (let i = 0; i < 8; i++) p.push(env(i * 8));
    await p.drain();
    expect(sink.deliveries).toHaveLength(2);
    expect(errors.map((e) => e.message)).toEqual(['sink failed']);
    expect(p.stats).toMatchObject({ sinkErrors: 1, delivered: 8 });
  });

  it('survives an onError that throws and a sink that rejects', async () => {
    let calls = 0;
    const p = pool({
      onRows: () => Promise.reject(new Error(`rejected ${++calls}`)),
      onError: () => {
        throw new Error('the logger is broken too');
      },
      batchSize: 4,
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 8; i++) p.push(env(i * 8));
    await p.drain();
    expect(calls).toBe(2);
    expect(p.stats).toMatchObject({ sinkErrors: 2, delivered: 8, inFlight: 0 });
  });

  it('counts the messages of a batch whose worker died, reports it, and keeps working', async () => {
    const sink = new Sink();
    const errors: Error[] = [];
    const p = pool({
      onRows: sink.onRows,
      onError: (e) => errors.push(e),
      batchSize: 4000,
      flushIntervalMs: 60_000,
    });
    const big = Array.from({ length: 4000 }, (_, i) => env((i % 3) * 8)); // all JSON, 3 records each
    const binary = { ...env(6), contentType: OCTET_STREAM };
    for (const e of big.slice(0, 3999)) p.push(e);
    p.push(binary); // seals the batch: it goes to a worker now
    await Promise.all(p.threads.map((w) => w.terminate()));
    await p.drain();
    expect(errors.length).toBeGreaterThan(0);
    // the whole batch was the dead worker's, the binary message too
    expect(p.stats).toMatchObject({ failed: 4000, delivered: 0, rows: 0, inFlight: 0 });
    expect(sink.rows).toEqual([]);
    // piscina starts replacement threads: the pool goes on
    for (const e of big) p.push(e);
    await p.drain();
    expect(p.stats).toMatchObject({ delivered: 4000, failed: 4000, rows: 3 * 4000 });
  });

  it('delivers batches in order, whichever content types they hold', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 2, flushIntervalMs: 60_000 });
    p.push(env(0));
    p.push(env(1));
    p.push({ ...env(6), contentType: OCTET_STREAM });
    p.push({ ...env(14), contentType: OCTET_STREAM });
    p.push(env(2));
    await p.drain();
    expect(sink.deliveries.map((d) => d.rows.map((r) => r.kind))).toEqual([
      ['senml', 'senml', 'senml', 'senml', 'senml', 'senml'],
      ['message', 'message'],
      ['senml', 'senml', 'senml'],
    ]);
  });

  it('works with the objects transport and sync atomics too', async () => {
    for (const options of [{ transport: 'objects' as const }, { atomics: 'sync' as const }]) {
      const sink = new Sink();
      const p = pool({ onRows: sink.onRows, batchSize: 16, flushIntervalMs: 60_000, threads: 1, ...options });
      const list = Array.from({ length: 16 }, (_, i) => env(i));
      for (const e of list) p.push(e);
      await p.drain();
      expect(plain(sink.rows)).toEqual(plain(expectedBatch(list).rows));
      await p.close();
    }
  });

  it('whenIdle does not wait for the open batch; drain does', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 100, flushIntervalMs: 60_000 });
    await p.whenIdle(); // nothing in flight
    p.push(env(0));
    await p.whenIdle();
    expect(sink.deliveries).toHaveLength(0);
    expect(p.stats.open).toBe(1);
    await p.drain();
    expect(sink.rows).toHaveLength(3);
  });

  it('refuses pushes once closing; destroy drops what is not delivered', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 100, flushIntervalMs: 60_000 });
    p.push(env(0));
    const closing = p.close();
    expect(p.push(env(1))).toBe(false);
    await closing;
    expect(p.stats).toMatchObject({ accepted: 1, delivered: 1, rejectedClosed: 1 });

    const q = pool({ onRows: sink.onRows, batchSize: 100, flushIntervalMs: 60_000 });
    q.push(env(0));
    q.push(env(1));
    const workers = [...q.threads];
    const exited = exits(workers);
    await q.destroy();
    expect(q.stats).toMatchObject({ accepted: 2, droppedOverload: 2, open: 0, threads: 0 });
    expect(exited.count()).toBe(workers.length);
  });

  it('onEncoded: each batch comes back as one row batch in bytes, the same rows as onRows gives', async () => {
    const parts: EncodedRows[] = [];
    const p = pool({ onEncoded: (part) => void parts.push(part), batchSize: 64, flushIntervalMs: 60_000 });
    const list = Array.from({ length: 200 }, (_, i) => env(i));
    for (const e of list) p.push(e);
    await p.drain();
    expect(parts).toHaveLength(4); // 64 + 64 + 64 + 8 (drain seals the last)
    const expectedInvalid: number[] = [];
    for (let b = 0; b < 4; b++) {
      const batch = list.slice(b * 64, b * 64 + 64);
      const expected = expectedBatch(batch);
      expectedInvalid.push(...expected.invalid);
      const decoded = decodeRowBatch(parts[b]!.bytes);
      expect(parts[b]).toMatchObject({ rows: expected.rows.length, invalid: expected.invalid.length });
      expect(plain(decoded.rows)).toEqual(plain(expected.rows));
      expect(decoded.invalid.map((x) => x.envelope.created)).toEqual(expected.invalid);
      expect(decoded.invalid.every((x) => x.error instanceof SenMLError && x.error.rule !== '')).toBe(true);
    }
    const rows = parts.reduce((n, part) => n + part.rows, 0);
    expect(p.stats).toMatchObject({ accepted: 200, delivered: 200, rows, invalid: expectedInvalid.length });
  });

  it('pushMessage interns sources: one MessageSource reused for many messages, across batches', async () => {
    const sink = new Sink();
    const p = pool({ onRows: sink.onRows, batchSize: 3, flushIntervalMs: 60_000 });
    const a = new MessageSource('ch-a', 'room/1', 'thing-a', 'mqtt');
    const b = new MessageSource('ch-b', '', 'thing-b', 'coap');
    const pack = (v: number): Buffer => Buffer.from(JSON.stringify([{ n: 'x', v }]));
    for (let i = 0; i < 7; i++) p.pushMessage(i % 2 ? b : a, SENML_JSON, CREATED + i, pack(i));
    await p.drain();
    expect(
      sink.rows.map((r) => [r.channel, r.subtopic, r.publisher, r.protocol, r.kind === 'senml' && r.value]),
    ).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) =>
        i % 2 ? ['ch-b', '', 'thing-b', 'coap', i] : ['ch-a', 'room/1', 'thing-a', 'mqtt', i],
      ),
    );
  });

  it('validates its options', () => {
    const onRows = (): void => {};
    expect(() => new CodecPool({})).toThrow(TypeError);
    expect(() => new CodecPool({ onRows, onEncoded: () => {} })).toThrow(TypeError);
    expect(() => new CodecPool({ onRows, threads: 0 })).toThrow(RangeError);
    expect(() => new CodecPool({ onRows, batchSize: 1.5 })).toThrow(RangeError);
  });
});
