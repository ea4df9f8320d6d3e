/** Our protocol-1 ILP text encoder writes exactly the bytes of the client's own buffer. */
import { createBuffer, SenderOptions } from '@questdb/nodejs-client';
import { describe, expect, it } from 'vitest';
import type { SenMLRow } from '../../../codecs/index.js';
import { ClientIlpWriter, TextIlpWriter, writeBatchLines } from '../../../storage/telemetry/ilp-encoder.js';
import { DEFAULT_QUESTDB_TABLES } from '../../../storage/telemetry/questdb-schema.js';
import type { TelemetryBatch } from '../../../storage/telemetry/types.js';
import { parseIlpLine, splitIlpLines } from './fake-questdb.js';
import { invalidMessages, messageRows, senmlRows } from './fixtures.js';

function both(batch: TelemetryBatch): [string, string] {
  const text = new TextIlpWriter();
  const client = new ClientIlpWriter(createBuffer(new SenderOptions('http::addr=x:9000;protocol_version=1')));
  writeBatchLines(text, batch, DEFAULT_QUESTDB_TABLES);
  writeBatchLines(client, batch, DEFAULT_QUESTDB_TABLES);
  return [text.finish()!.toString('utf8'), client.finish()!.toString('utf8')];
}

describe('TextIlpWriter', () => {
  it('matches the client buffer byte for byte, escapes included', () => {
    const [base] = senmlRows(1);
    const awkward: SenMLRow[] = [
      { ...base!, subtopic: 'a b,c=d\\e', publisher: 'thing "1"', name: 'x=y', unit: 'm/s²' },
      {
        ...base!,
        value: undefined,
        stringValue: 'quote " backslash \\ newline \n return \r comma, space = ok 🚀',
      },
      { ...base!, value: -0.000001234, sum: 1e21, updateTime: 0.5 },
      { ...base!, value: undefined, boolValue: true, time: 0 },
      { ...base!, value: undefined, dataValue: 'AQID-_w', time: -1.5 },
      { ...base!, value: undefined, sum: 12 }, // sum only
      { ...base!, value: Number.NaN }, // not finite: left out, symbols only
      { ...base!, channel: 'ümlaut,channel', protocol: '', unit: '' },
    ];
    const batch: TelemetryBatch = {
      rows: [...awkward, ...senmlRows(500), ...messageRows(20)],
      invalid: invalidMessages(5),
    };
    const [text, client] = both(batch);
    expect(text).toBe(client);
    const lines = splitIlpLines(text);
    expect(lines).toHaveLength(awkward.length + 500 + 20 + 5);
    for (const line of lines) expect(() => parseIlpLine(line)).not.toThrow();
  });

  it('refuses what the client refuses', () => {
    const text = new TextIlpWriter();
    expect(() => text.table('t').intColumn('n', 1.5)).toThrow();
    expect(() => text.table('t').symbol('a', 'b').at(1.5)).toThrow();
    expect(new TextIlpWriter().finish()).toBeNull();
  });
});
