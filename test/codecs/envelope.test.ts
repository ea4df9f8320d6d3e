import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { Packr, pack as plainPack, unpack as plainUnpack, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  checkEnvelope,
  copyEnvelope,
  ENVELOPE_KEYS,
  type Envelope,
  EnvelopeBatchWriter,
  EnvelopeError,
  packEnvelope,
  packEnvelopeBatch,
  unpackEnvelope,
  unpackEnvelopeBatch,
} from '../../codecs/index.js';

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }), // non-ASCII, surrogate pairs
  fc.string({ unit: 'binary-ascii', minLength: 31, maxLength: 300 }), // str8/str16 boundaries
);
const payload = fc.oneof(
  { weight: 12, arbitrary: fc.uint8Array({ maxLength: 300 }) }, // bin8/bin16 boundary at 256
  {
    weight: 1, // bin16/bin32 boundary at 65 536
    arbitrary: fc
      .integer({ min: 65_530, max: 65_540 })
      .map((n) => Uint8Array.from({ length: n }, (_, i) => i & 0xff)),
  },
);
const envelope: fc.Arbitrary<Envelope> = fc.record({
  channel: text,
  subtopic: text,
  publisher: text,
  protocol: fc.constantFrom('mqtt', 'http', 'ws', 'coap'),
  contentType: text,
  // (-0 is normalised: msgpackr writes an integral -0 as the integer 0, meaningless for a timestamp anyway)
  created: fc.oneof(
    fc.integer({ min: 0, max: 4_102_444_800_000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)),
  ),
  payload,
});

/** Compares envelopes field by field (payload by bytes, whatever its Uint8Array subclass). */
function expectSame(actual: Envelope, expected: Envelope): void {
  const { payload: a, ...restA } = actual;
  const { payload: e, ...restE } = expected;
  expect(restA).toEqual(restE);
  expect(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(e.buffer, e.byteOffset, e.byteLength),
    ),
  ).toBe(true);
}

const sample: Envelope = {
  channel: '6f0b2d7c-3c1e-4b8e-9a51-5a4f0f1d2e3c',
  subtopic: 'room1/temp',
  publisher: 'a1b2c3d4-0000-4000-8000-000000000001',
  protocol: 'mqtt',
  contentType: 'application/senml+json',
  created: 1_700_000_000_123,
  payload: Buffer.from('[{"n":"a","v":1}]'),
};

describe('network envelope (interoperable msgpack map)', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(envelope, (e) => expectSame(unpackEnvelope(packEnvelope(e)), e)),
      { numRuns: 200 },
    );
  });

  it('is a plain msgpack map any implementation reads, and reads plain maps', () => {
    const plain = plainUnpack(packEnvelope(sample)) as Record<string, unknown>;
    expect(Object.keys(plain)).toEqual([...ENVELOPE_KEYS]);
    expectSame(checkEnvelope(plain), sample);
    expectSame(unpackEnvelope(plainPack({ ...sample, extra: 'ignored' })), sample);
    expect(packEnvelope({ ...sample, extra: 1 } as Envelope)).toEqual(packEnvelope(sample)); // only the 7 fields
  });

  it('accepts a msgpack timestamp for created', () => {
    const withDate = plainPack({ ...sample, created: new Date(sample.created) });
    expect(unpackEnvelope(withDate).created).toBe(sample.created);
  });

  it('returns a view into the input unless asked to copy', () => {
    const bytes = packEnvelope(sample);
    const view = unpackEnvelope(bytes);
    const copy = unpackEnvelope(bytes, { copyPayload: true });
    bytes.fill(0);
    expect(Buffer.from(view.payload).equals(Buffer.from(sample.payload))).toBe(false);
    expectSame(copy, sample);
  });

  it('rejects what is not an envelope with EnvelopeError', () => {
    const bad: unknown[] = [
      [1, 2],
      'x',
      null,
      { ...sample, channel: 1 },
      { ...sample, created: '2024' },
      { ...sample, payload: 'text' },
      { ...sample, created: Number.NaN },
      Object.fromEntries(Object.entries(sample).filter(([k]) => k !== 'subtopic')),
    ];
    for (const value of bad) expect(() => unpackEnvelope(plainPack(value))).toThrow(EnvelopeError);
    expect(() => unpackEnvelope(Uint8Array.from([0xc1]))).toThrow(EnvelopeError);
    const error = (() => {
      try {
        unpackEnvelope(Uint8Array.from([0x81]));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ name: 'EnvelopeError', code: 'envelope' });
  });

  it('never throws anything but EnvelopeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          unpackEnvelope(bytes);
        } catch (error) {
          if (!(error instanceof EnvelopeError)) throw error;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('envelope batch (one transferable ArrayBuffer)', () => {
  it('packs 100+ envelopes into one ArrayBuffer and unpacks them', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 100, maxLength: 140 }), (list) => {
        const batch = packEnvelopeBatch(list);
        expect(batch.buffer).toBeInstanceOf(ArrayBuffer);
        expect(batch.count).toBe(list.length);
        const back = unpackEnvelopeBatch(batch.buffer, batch.byteLength);
        expect(back).toHaveLength(list.length);
        for (const [i, e] of back.entries()) expectSame(e, list[i]!);
      }),
      { numRuns: 15 },
    );
  });

  it('writes what msgpackr reads: an independent Unpackr with the shared structure decodes it', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 20 }), (list) => {
        const batch = packEnvelopeBatch(list);
        const unpackr = new Unpackr({ structures: [[...ENVELOPE_KEYS]], int64AsType: 'number' });
        const back = unpackr.unpack(new Uint8Array(batch.buffer, 0, batch.byteLength)) as Envelope[];
        for (const [i, e] of back.entries()) expectSame(e, list[i]!);
        // and decodes the same values as msgpackr's own encoder with that structure
        const packr = new Packr({ structures: [[...ENVELOPE_KEYS]], maxSharedStructures: 1 });
        const reference = unpackr.unpack(packr.pack(list.map((e) => ({ ...e })))) as Envelope[];
        for (const [i, e] of reference.entries()) expectSame(e, back[i]!);
      }),
      { numRuns: 50 },
    );
  });

  it('transfers (not copies) to another thread and still decodes there', () => {
    const list = Array.from({ length: 128 }, (_, i) => ({ ...sample, created: sample.created + i }));
    const batch = packEnvelopeBatch(list);
    const moved = structuredClone(batch, { transfer: [batch.buffer] });
    expect(batch.buffer.byteLength).toBe(0); // detached on this side
    const back = unpackEnvelopeBatch(moved.buffer, moved.byteLength);
    for (const [i, e] of back.entries()) expectSame(e, list[i]!);
  });

  it('the writer copies payloads, grows, and starts a fresh buffer after finish', () => {
    const writer = new EnvelopeBatchWriter(16); // rounded up to 1 KiB, must grow
    const payloadBytes = Buffer.alloc(3000, 7);
    writer.add({ ...sample, payload: payloadBytes });
    payloadBytes.fill(1); // the caller reuses its buffer at once
    for (let i = 0; i < 9; i++) writer.add(sample);
    expect(writer.count).toBe(10);
    const first = writer.finish();
    expect(writer.count).toBe(0);
    writer.add(sample);
    const second = writer.finish();
    expect(second.buffer).not.toBe(first.buffer);
    const back = unpackEnvelopeBatch(first.buffer, first.byteLength);
    expect(back[0]!.payload.every((b) => b === 7)).toBe(true);
    expectSame(unpackEnvelopeBatch(second.buffer, second.byteLength)[0]!, sample);
  });

  it('reuses a recycled buffer for a later batch (old bytes are overwritten, detached buffers ignored)', () => {
    const writer = new EnvelopeBatchWriter(4096);
    const old = { buffer: new ArrayBuffer(8192) };
    new Uint8Array(old.buffer).fill(0xee); // stale bytes that must not leak into the next batch
    const small = new ArrayBuffer(1024); // too small for the next batch (4 KiB): skipped
    writer.recycle(old.buffer);
    writer.recycle(small);
    const detached = new ArrayBuffer(8192);
    structuredClone(detached, { transfer: [detached] });
    writer.recycle(detached); // byteLength 0 now: ignored
    writer.add(sample);
    const first = writer.finish(); // its successor buffer is the recycled one
    writer.add({ ...sample, channel: 'other' });
    const second = writer.finish();
    expect(second.buffer).toBe(old.buffer);
    expect(first.buffer).not.toBe(old.buffer);
    const back = unpackEnvelopeBatch(second.buffer, second.byteLength);
    expect(back).toHaveLength(1);
    expectSame(back[0]!, { ...sample, channel: 'other' });
  });

  it('refuses envelopes with wrong field types (programming errors) without corrupting the batch', () => {
    const writer = new EnvelopeBatchWriter();
    writer.add(sample);
    expect(() => writer.add({ ...sample, payload: 'x' as unknown as Uint8Array })).toThrow(TypeError);
    expect(() => writer.add({ ...sample, created: '1' as unknown as number })).toThrow(TypeError);
    expect(() => writer.add({ ...sample, channel: 5 as unknown as string })).toThrow(TypeError);
    const batch = writer.finish();
    expect(batch.count).toBe(1);
    expectSame(unpackEnvelopeBatch(batch.buffer, batch.byteLength)[0]!, sample);
  });

  it('copyEnvelope gives the payload its own exactly sized buffer', () => {
    const batch = packEnvelopeBatch([sample, sample]);
    const [view] = unpackEnvelopeBatch(batch.buffer, batch.byteLength);
    expect(view!.payload.buffer.byteLength).toBeGreaterThan(view!.payload.byteLength);
    const copy = copyEnvelope(view!);
    expect(copy.payload.buffer.byteLength).toBe(sample.payload.byteLength);
    expectSame(copy, sample);
  });

  it('rejects a batch that is not an array', () => {
    expect(() => unpackEnvelopeBatch(Uint8Array.from([0x01]))).toThrow(EnvelopeError);
    expect(() => unpackEnvelopeBatch(Uint8Array.from([0xdd, 0, 0, 0, 9]))).toThrow(EnvelopeError);
  });
});
