/** Bad input: malformed datagrams are answered with RST or ignored, never crash, and the broker serves on. */
import { randomBytes } from 'node:crypto';
import { generate } from 'coap-packet';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeClient, collect, connectClient, until } from '../../helpers.js';
import { type CoapTestBroker, RawCoapClient, startCoapBroker, uint, uriOptions } from './coap-helpers.js';

let tb: CoapTestBroker;
let c: RawCoapClient;
let mqttClient: MqttClient;

beforeEach(async () => {
  tb = await startCoapBroker({ coap: { maxRequestsPerSecondPerPeer: 0 } });
  c = await RawCoapClient.open(tb.coapPort);
  mqttClient = await connectClient(tb.mqttUrl);
  await mqttClient.subscribeAsync('channels/#');
});
afterEach(async () => {
  await closeClient(mqttClient, true);
  await c.close();
  await tb.close();
});

/** A valid publish and its answer: proves the server still works and has handled everything before it. */
async function stillServes(client = c): Promise<void> {
  const marker = randomBytes(4).toString('hex');
  const sent = client.request('POST', '/channels/c1/messages/ok?auth=s', { payload: Buffer.from(marker) });
  const answer = await client.response(sent);
  expect(answer.code).toBe('2.04');
  await until(() => collect(mqttClient).some((m) => m.payload.toString() === marker));
}

/**
 * Waits until the server has read everything sent so far: a CON ping is answered with RST once the
 * datagrams before it are handled. Bursts of thousands of datagrams would otherwise overflow the
 * socket's receive buffer and the kernel would drop some (UDP), our final request among them.
 */
async function drained(client = c): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const messageId = client.nextMessageId();
    client.sendBytes(generate({ confirmable: true, code: '0.00', messageId }));
    try {
      await client.next((p) => p.reset && p.messageId === messageId, 1000);
      return;
    } catch (err) {
      if (attempt === 4) throw err; // a ping lost in a full buffer is resent, as a CoAP client would
    }
  }
}

/** CON header (version 1, type 0) with `tkl` and message id 0x1234, then `rest`. */
function con(tkl: number, code: number, rest: number[] = []): Buffer {
  return Buffer.from([0x40 | tkl, code, 0x12, 0x34, ...rest]);
}

describe('message format errors (RFC 7252 §3, §4.2)', () => {
  const resetCases: [string, Buffer][] = [
    ['truncated token (TKL 8, 2 bytes present)', con(8, 0x02, [1, 2])],
    ['token length 9..15 is reserved', con(9, 0x02, [1, 2, 3, 4, 5, 6, 7, 8, 9])],
    ['option delta 15 that is not the payload marker', con(0, 0x02, [0xf1, 0])],
    ['option length 15', con(0, 0x02, [0xbf])],
    ['option value running past the end', con(0, 0x02, [0xb5, 0x61])],
    ['extended option delta cut short', con(0, 0x02, [0xd0])],
    ['extended option length cut short', con(0, 0x02, [0xbe, 0x01])],
    ['payload marker with no payload', con(0, 0x02, [0xb1, 0x61, 0xff])],
    ['an Empty message with a token', con(1, 0x00, [7])],
    ['an Empty message with bytes after the header', con(0, 0x00, [0xff, 1])],
  ];

  it.each(resetCases)('CON with %s is answered with RST', async (_what, datagram) => {
    c.sendBytes(datagram);
    const rst = await c.next();
    expect(rst).toMatchObject({ reset: true, code: '0.00', messageId: 0x1234 });
    await stillServes();
    expect(tb.broker.coap!.stats().malformed).toBe(1);
  });

  it.each(resetCases)('NON with %s is ignored', async (_what, datagram) => {
    const non = Buffer.from(datagram);
    non[0] = (non[0]! & 0xcf) | 0x10;
    c.sendBytes(non);
    await stillServes();
    expect(c.inbox).toHaveLength(0);
    expect(tb.broker.coap!.stats().malformed).toBe(1);
  });

  it('ignores datagrams shorter than a header, of another version, and empty ones', async () => {
    for (const d of [
      Buffer.alloc(0),
      Buffer.from([0x40]),
      Buffer.from([0x40, 1, 2]),
      con(0, 2).fill(0x80, 0, 1),
    ]) {
      c.sendBytes(d);
    }
    await stillServes();
    expect(c.inbox).toHaveLength(0);
  });

  it('ignores requests sent as ACK or RST', async () => {
    c.sendBytes(
      generate({ ack: true, code: 'POST', messageId: 5, options: uriOptions('/channels/c1/messages') }),
    );
    c.sendBytes(
      generate({ reset: true, code: 'GET', messageId: 6, options: uriOptions('/channels/c1/messages') }),
    );
    await stillServes();
    expect(c.inbox).toHaveLength(0);
  });

  it('answers an unexpected CON response with RST and ignores a NON one', async () => {
    c.sendBytes(generate({ confirmable: true, code: '2.05', messageId: 77, token: Buffer.from('x') }));
    expect(await c.next()).toMatchObject({ reset: true, messageId: 77 });
    c.sendBytes(generate({ code: '2.05', messageId: 78, token: Buffer.from('y') }));
    await stillServes();
    expect(c.inbox).toHaveLength(0);
  });
});

describe('options', () => {
  it('answers an unrecognized critical option in a CON with 4.02', async () => {
    for (const number of [9 /* OSCORE */, 1 /* If-Match */, 2049, 65001]) {
      const sent = c.request('POST', '/channels/c1/messages?auth=s', {
        payload: Buffer.from('x'),
        extraOptions: [{ name: String(number), value: Buffer.from([1]) }],
      });
      const answer = await c.response(sent);
      expect(answer.code, `option ${number}`).toBe('4.02');
      expect(answer.payload.toString()).toContain(String(number));
    }
    expect(collect(mqttClient)).toHaveLength(0);
    await stillServes();
  });

  it('rejects a NON with an unrecognized critical option with RST', async () => {
    const sent = c.request('POST', '/channels/c1/messages?auth=s', {
      confirmable: false,
      payload: Buffer.from('x'),
      extraOptions: [{ name: '9', value: Buffer.from([1]) }],
    });
    expect(await c.next()).toMatchObject({ reset: true, messageId: sent.messageId });
    await stillServes();
    expect(collect(mqttClient)).toHaveLength(1);
  });

  it('ignores unrecognized elective options', async () => {
    const sent = c.request('POST', '/channels/c1/messages?auth=s', {
      payload: Buffer.from('x'),
      extraOptions: [
        { name: '2048', value: Buffer.from('whatever') },
        { name: 'Max-Age', value: uint(60) },
        { name: 'ETag', value: Buffer.from([1]) },
      ],
    });
    expect((await c.response(sent)).code).toBe('2.04');
  });

  it('4.00 for an invalid Block1 or Block2 (SZX 7 is BERT, for TCP only)', async () => {
    for (const name of ['Block1', 'Block2']) {
      const sent = c.request(name === 'Block1' ? 'POST' : 'GET', '/channels/c1/messages?auth=s', {
        payload: Buffer.from('x'),
        extraOptions: [{ name, value: uint(7) }],
      });
      expect((await c.response(sent)).code, name).toBe('4.00');
    }
  });
});

describe('random input', () => {
  it('survives 2000 random datagrams and serves afterwards', async () => {
    for (let i = 0; i < 2000; i++) {
      c.sendBytes(randomBytes(1 + Math.floor(Math.random() * 64)));
      if (i % 100 === 99) await drained();
    }
    await drained();
    await stillServes();
  });

  it('survives well-formed requests with random options and paths (fast-check)', async () => {
    const segment = fc.constantFrom('channels', 'c1', 'messages', '+', '#', '', 'x', '\u0000', 'é');
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'FETCH', '0.09', '2.05'),
        fc.boolean(),
        fc.array(segment, { maxLength: 6 }),
        fc.array(
          fc.record({
            name: fc.constantFrom(
              '4',
              '6',
              '7',
              '12',
              '14',
              '17',
              '23',
              '27',
              '28',
              '60',
              '258',
              '292',
              '1000',
            ),
            value: fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
          }),
          { maxLength: 5 },
        ),
        fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        async (code, confirmable, path, options, payload) => {
          c.send({
            code,
            confirmable,
            token: randomBytes(4),
            options: [
              ...path.map((p) => ({ name: 'Uri-Path', value: Buffer.from(p) })),
              { name: 'Uri-Query', value: Buffer.from('auth=s') },
              ...options,
            ],
            payload,
          });
          if (++sent % 100 === 0) await drained();
        },
      ),
      { numRuns: 500 },
    );
    await drained();
    await stillServes();
  });

  it('survives random datagrams with a valid header (fast-check)', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 80 }),
        async (type, tkl, code, messageId, rest) => {
          c.sendBytes(
            Buffer.from([0x40 | (type << 4) | tkl, code, messageId >> 8, messageId & 0xff, ...rest]),
          );
          if (++sent % 100 === 0) await drained();
        },
      ),
      { numRuns: 500 },
    );
    await drained();
    const other = await RawCoapClient.open(tb.coapPort);
    try {
      await stillServes(other);
    } finally {
      await other.close();
    }
  });
});
