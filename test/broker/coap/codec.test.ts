/** The CoAP codec against coap-packet, the Block option, content formats and settings validation. */
import { generate, parse } from 'coap-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBlock, encodeBlock } from '../../../broker/coap/block-option.js';
import { CoapMessage, encodeMessage, parseMessage, readUint } from '../../../broker/coap/codec.js';
import { MessageType } from '../../../broker/coap/codes.js';
import { contentFormatOf } from '../../../broker/coap/content-format.js';
import { DEFAULT_COAP_SETTINGS, resolveSettings } from '../../../broker/coap/settings.js';

const typeFlags = (type: number) => ({
  confirmable: type === MessageType.CON,
  ack: type === MessageType.ACK,
  reset: type === MessageType.RST,
});

const optionArb = fc.record({
  number: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(12, 13, 268, 269, 270, 2049, 65_000)),
  value: fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ minLength: 268, maxLength: 300 })),
});

const messageArb = fc.record({
  type: fc.integer({ min: 0, max: 3 }),
  code: fc.integer({ min: 1, max: 255 }),
  messageId: fc.integer({ min: 0, max: 0xffff }),
  token: fc.uint8Array({ maxLength: 8 }),
  options: fc.array(optionArb, { maxLength: 8 }),
  payload: fc.uint8Array({ maxLength: 100 }),
});

describe('codec', () => {
  it('what we encode, coap-packet parses identically', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const options = m.options.map((o) => ({ number: o.number, value: Buffer.from(o.value) }));
        const bytes = encodeMessage(
          m.type as MessageType,
          m.code,
          m.messageId,
          Buffer.from(m.token),
          options,
          Buffer.from(m.payload),
        );
        const p = parse(bytes);
        expect(p).toMatchObject({ messageId: m.messageId, ...typeFlags(m.type) });
        expect(p.token.equals(Buffer.from(m.token))).toBe(true);
        expect(p.payload.equals(Buffer.from(m.payload))).toBe(true);
        const sorted = [...options].sort((a, b) => a.number - b.number);
        expect(p.options.map((o) => o.value)).toEqual(sorted.map((o) => o.value));
      }),
      { numRuns: 300 },
    );
  });

  it('what coap-packet generates, we parse identically', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = generate(
          {
            ...typeFlags(m.type),
            code: `${m.code >> 5}.${String(m.code & 31).padStart(2, '0')}`,
            messageId: m.messageId,
            token: Buffer.from(m.token),
            options: m.options.map((o) => ({ name: String(o.number), value: Buffer.from(o.value) })),
            payload: Buffer.from(m.payload),
          },
          65_000,
        );
        const parsed = parseMessage(bytes);
        expect(parsed).toBeInstanceOf(CoapMessage);
        const msg = parsed as CoapMessage;
        expect(msg).toMatchObject({ type: m.type, code: m.code, messageId: m.messageId });
        expect(msg.token.equals(Buffer.from(m.token))).toBe(true);
        expect(msg.payload.equals(Buffer.from(m.payload))).toBe(true);
        const sorted = [...m.options].sort((a, b) => a.number - b.number);
        expect(msg.options.map((o) => o.number)).toEqual(sorted.map((o) => o.number));
      }),
      { numRuns: 300 },
    );
  });

  it('encodes numeric option values as minimal unsigned integers', () => {
    for (const [n, length] of [
      [0, 0],
      [1, 1],
      [255, 1],
      [256, 2],
      [65_535, 2],
      [65_536, 3],
      [0xff_ffff, 3],
      [0x100_0000, 4],
      [0xffff_ffff, 4],
    ] as const) {
      const bytes = encodeMessage(MessageType.CON, 1, 1, Buffer.alloc(0), [{ number: 6, value: n }], null);
      const value = (parseMessage(bytes) as CoapMessage).options[0]!.value;
      expect(value.length, String(n)).toBe(length);
      expect(readUint(value)).toBe(n);
    }
  });

  it('reads repeated options in order and stops searching past the number', () => {
    const bytes = encodeMessage(
      MessageType.CON,
      1,
      7,
      Buffer.from('t'),
      [
        { number: 11, value: Buffer.from('a') },
        { number: 11, value: Buffer.from('b') },
        { number: 15, value: Buffer.from('q=1') },
      ],
      null,
    );
    const msg = parseMessage(bytes) as CoapMessage;
    expect(msg.optionValues(11).map(String)).toEqual(['a', 'b']);
    expect(msg.option(12)).toBeUndefined();
    expect(msg.uintOption(15, 2)).toBe(-1); // longer than allowed
  });
});

describe('Block option', () => {
  it('round-trips NUM, M and SZX, and refuses SZX 7 and values over 3 bytes', () => {
    for (const [num, more, szx] of [
      [0, false, 0],
      [0, true, 6],
      [15, true, 2],
      [16, false, 4],
      [0xf_ffff, true, 6],
    ] as const) {
      const n = encodeBlock(num, more, szx);
      const bytes = Buffer.from(n.toString(16).padStart(6, '0'), 'hex');
      expect(decodeBlock(bytes)).toEqual({ num, more, szx });
    }
    expect(decodeBlock(Buffer.from([0x07]))).toBeNull();
    expect(decodeBlock(Buffer.from([0, 0, 0, 1]))).toBeNull();
    expect(decodeBlock(Buffer.alloc(0))).toEqual({ num: 0, more: false, szx: 0 });
  });
});

describe('content formats', () => {
  it('maps media types to Content-Format numbers, defaulting to 42', () => {
    expect(contentFormatOf('application/senml+json')).toBe(110);
    expect(contentFormatOf('application/senml+cbor')).toBe(112);
    expect(contentFormatOf('application/octet-stream')).toBe(42);
    expect(contentFormatOf('Application/JSON; charset=utf-8')).toBe(50);
    expect(contentFormatOf('text/plain')).toBe(0);
    expect(contentFormatOf('application/vnd.omap.megolm.v1')).toBe(42);
    expect(contentFormatOf(undefined)).toBe(42);
  });
});

describe('settings', () => {
  it('applies defaults and refuses values that break the protocol', () => {
    expect(resolveSettings({})).toEqual(DEFAULT_COAP_SETTINGS);
    expect(resolveSettings({ blockSize: 64 }).blockSize).toBe(64);
    expect(() => resolveSettings({ blockSize: 100 })).toThrow(RangeError);
    expect(() => resolveSettings({ blockSize: 2048 })).toThrow(RangeError);
    expect(() => resolveSettings({ ackRandomFactor: 0.5 })).toThrow(RangeError);
    expect(() => resolveSettings({ maxObservers: -1 })).toThrow(RangeError);
    expect(() => resolveSettings({ maxPeers: Number.NaN })).toThrow(RangeError);
  });
});
