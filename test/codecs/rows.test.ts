import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BatchTask,
  decodeRowBatch,
  type Envelope,
  encodeSenMLCbor,
  envelopeToRows,
  type MessageRow,
  OCTET_STREAM,
  packMessages,
  processBatch,
  type Row,
  RowColumnsWriter,
  readRowColumns,
  SENML_CBOR,
  SENML_JSON,
  SENSML_JSON,
  type SenMLPackRecord,
  type SenMLRow,
} from '../../codecs/index.js';
import { pack } from './arbitraries.js';

const CREATED = 1_700_000_000_500;

function env(contentType: string, payload: Uint8Array, i = 0): Envelope {
  return {
    channel: `chan-${i % 3}`,
    subtopic: i % 2 === 0 ? '' : 'room/1',
    publisher: `thing-${i % 5}`,
    protocol: i % 2 === 0 ? 'mqtt' : 'coap',
    contentType,
    created: CREATED + i,
    payload,
  };
}

const jsonEnv = (p: readonly SenMLPackRecord[], i = 0) => env(SENML_JSON, Buffer.from(JSON.stringify(p)), i);
const cborEnv = (p: readonly SenMLPackRecord[], i = 0) => env(SENML_CBOR, encodeSenMLCbor(p), i);

function task(envelopes: readonly Envelope[], transport: 'columns' | 'objects' | 'encoded'): BatchTask {
  return {
    ...packMessages(envelopes),
    transport,
    maxBytes: 1 << 20,
    maxRecords: 10_000,
    spare: null,
  };
}

/** Rows of a batch result in the order the pool delivers them (SenML rows, then message rows). */
function resultRows(
  envelopes: readonly Envelope[],
  transport: 'columns' | 'objects' | 'encoded',
): { rows: Row[]; invalid: number[] } {
  const result = processBatch(task(envelopes, transport));
  if (result.encoded !== null) {
    const decoded = decodeRowBatch(result.encoded.bytes);
    expect(result.encoded).toMatchObject({ rows: decoded.rows.length, invalid: decoded.invalid.length });
    return {
      rows: decoded.rows,
      invalid: decoded.invalid.map((e) => envelopes.findIndex((x) => x.created === e.envelope.created)),
    };
  }
  const rows: Row[] = [];
  if (result.columns !== null) readRowColumns(result.columns, rows);
  if (result.rows !== null) rows.push(...result.rows);
  rows.push(...result.messageRows);
  expect(result.messages).toBe(envelopes.length);
  return {
    rows,
    invalid: result.invalid.map((e) => envelopes.findIndex((x) => x.created === e.envelope.created)),
  };
}

/** What the storage path must produce, computed one envelope at a time. */
function expectedRows(envelopes: readonly Envelope[]): { rows: Row[]; invalid: number[] } {
  const senml: Row[] = [];
  const messages: Row[] = [];
  const invalid: number[] = [];
  envelopes.forEach((e, i) => {
    const out = envelopeToRows(e);
    if (out.error !== null) invalid.push(i);
    for (const row of out.rows) (row.kind === 'senml' ? senml : messages).push(row);
  });
  return { rows: [...senml, ...messages], invalid };
}

function plain(rows: Row[]): unknown[] {
  return rows.map((r) => (r.kind === 'message' ? { ...r, payload: [...r.payload] } : r));
}

describe('envelopeToRows', () => {
  it('makes one row per resolved record, times relative to created', () => {
    const { rows, error } = envelopeToRows(
      jsonEnv(
        [
          { bn: 'dev/', n: 'temp', u: 'Cel', v: 21.5, t: -5 },
          { n: 'on', vb: true },
        ],
        1,
      ),
    );
    expect(error).toBeNull();
    expect(rows).toEqual([
      {
        kind: 'senml',
        channel: 'chan-1',
        subtopic: 'room/1',
        publisher: 'thing-1',
        protocol: 'coap',
        name: 'dev/temp',
        unit: 'Cel',
        value: 21.5,
        stringValue: undefined,
        boolValue: undefined,
        dataValue: undefined,
        sum: undefined,
        time: (CREATED + 1) / 1000 - 5,
        updateTime: undefined,
      },
      expect.objectContaining({
        name: 'dev/on',
        boolValue: true,
        time: (CREATED + 1) / 1000,
        value: undefined,
      }),
    ]);
    expect(envelopeToRows(cborEnv([{ n: 'a', vd: 'AAE', s: 2, ut: 9 }])).rows).toEqual([
      expect.objectContaining({ name: 'a', dataValue: 'AAE', sum: 2, updateTime: 9, time: CREATED / 1000 }),
    ]);
  });

  it('keeps anything else whole, and returns the error for invalid SenML', () => {
    const payload = Uint8Array.from([1, 2, 3]);
    for (const type of [OCTET_STREAM, 'application/x-megolm', 'application/senml+xml']) {
      const out = envelopeToRows(env(type, payload));
      expect(out.rows).toEqual([
        {
          kind: 'message',
          channel: 'chan-0',
          subtopic: '',
          publisher: 'thing-0',
          protocol: 'mqtt',
          contentType: type,
          created: CREATED,
          payload,
        } satisfies MessageRow,
      ]);
    }
    const invalid = envelopeToRows(jsonEnv([{ n: 'a b', v: 1 }]));
    expect(invalid.rows).toEqual([]);
    expect(invalid.error).toMatchObject({ code: 'name', index: 0 });
    expect(
      envelopeToRows(
        jsonEnv([
          { n: 'a', v: 1 },
          { n: 'b', v: 2 },
        ]),
        { maxRecords: 1 },
      ).error?.code,
    ).toBe('too-large');
  });
});

describe('processBatch (the worker task) and the column transport', () => {
  const mixed: Envelope[] = [
    jsonEnv(
      [
        { bn: 'd1/', bt: 1_700_000_000, n: 'x', v: 3, t: 20 },
        { n: 'y', v: 1, t: 10 },
      ],
      0,
    ), // unsorted
    cborEnv(
      [
        { bn: 'd2/', n: 'x', vs: 'hello' },
        { n: 'z', vb: false },
      ],
      1,
    ),
    env(OCTET_STREAM, Uint8Array.from([9, 9]), 2),
    jsonEnv(
      [
        { n: 'ok', v: 1 },
        { n: 'bad name', v: 2 },
      ],
      3,
    ), // invalid after a valid record
    env(SENSML_JSON, Buffer.from('[{"n":"s","s":4}]'), 4),
    env(SENML_JSON, Buffer.from('not json'), 5),
    cborEnv([{ n: 'c', vd: 'aGkgCg', ut: 3 }], 6),
  ];

  for (const transport of ['columns', 'objects'] as const) {
    it(`gives the same rows and invalid entries as envelopeToRows (${transport})`, () => {
      const got = resultRows(mixed, transport);
      const want = expectedRows(mixed);
      expect(plain(got.rows)).toEqual(plain(want.rows));
      expect(got.invalid).toEqual([3, 5]);
      expect(got.invalid).toEqual(want.invalid);
    });
  }

  it('returns invalid messages whole, payload copied into an exactly sized buffer, with the error data', () => {
    const result = processBatch(task(mixed, 'columns'));
    expect(result.invalid).toHaveLength(2);
    const [first] = result.invalid;
    expect(first!.error).toMatchObject({ code: 'name', index: 1 });
    expect(first!.envelope.payload.buffer.byteLength).toBe(mixed[3]!.payload.byteLength);
    expect(Buffer.from(first!.envelope.payload).equals(Buffer.from(mixed[3]!.payload))).toBe(true);
    expect(structuredClone(result).invalid[1]!.error.code).toBe('syntax'); // what crosses the thread boundary
  });

  it('random packs: columns, objects, encoded and envelopeToRows agree, whatever the validity and order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(pack, fc.boolean()), { minLength: 1, maxLength: 12 }), (packs) => {
        const envelopes = packs.map(([p, asCbor], i) => (asCbor ? cborEnv(p, i) : jsonEnv(p, i)));
        const want = expectedRows(envelopes);
        for (const transport of ['columns', 'objects', 'encoded'] as const) {
          const got = resultRows(envelopes, transport);
          expect(plain(got.rows)).toEqual(plain(want.rows));
          expect(got.invalid).toEqual(want.invalid);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('column writer: grows, dedupes strings, rolls back an aborted message, sorts a message stably by time', () => {
    const writer = new RowColumnsWriter(16);
    const e = env(SENML_JSON, new Uint8Array(0));
    for (let i = 0; i < 40; i++) {
      writer.begin(e);
      writer.add('n', 'u', 100 - i, i, undefined, undefined, undefined, undefined, undefined, undefined);
      writer.end(true);
    }
    writer.begin(e);
    writer.add('gone', undefined, 1, 1, undefined, undefined, undefined, undefined, undefined, undefined);
    writer.abort();
    writer.begin(e);
    writer.add('b', undefined, 5, undefined, 'x', undefined, undefined, undefined, undefined, undefined);
    writer.add('a', undefined, 3, undefined, undefined, true, undefined, undefined, undefined, undefined);
    writer.add('c', undefined, 5, undefined, undefined, undefined, 'AA', 1, 2, undefined);
    writer.end(false);
    const columns = writer.finish();
    expect(columns.count).toBe(43);
    expect(columns.strings.filter((s) => s === 'n')).toHaveLength(1);
    const rows: Row[] = [];
    readRowColumns(columns, rows);
    const senml = rows as SenMLRow[];
    expect(
      senml
        .slice(40)
        .map((r) => [r.name, r.time, r.stringValue, r.boolValue, r.dataValue, r.sum, r.updateTime]),
    ).toEqual([
      ['a', 3, undefined, true, undefined, undefined, undefined],
      ['b', 5, 'x', undefined, undefined, undefined, undefined],
      ['c', 5, undefined, undefined, 'AA', 1, 2],
    ]);
    expect(senml[39]).toMatchObject({ name: 'n', unit: 'u', value: 39, time: 61 });
    expect(senml.some((r) => r.name === 'gone')).toBe(false);
  });
});
