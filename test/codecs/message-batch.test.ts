import { describe, expect, it } from 'vitest';
import {
  MessageBatchError,
  MessageBatchWriter,
  MessageSource,
  packMessages,
  unpackMessages,
} from '../../codecs/index.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('MessageBatchWriter (the storage tap batch)', () => {
  it('round-trips messages; each source and content type travels once per batch', () => {
    const w = new MessageBatchWriter(1024);
    const a = new MessageSource('c1', 'room/1', 'thing-1', 'mqtt');
    const b = new MessageSource('c2', '', 'thing-2', 'http');
    w.add(a, 'application/senml+json', 1.5, bytes(1, 2, 3));
    w.add(b, 'application/octet-stream', 2, bytes());
    w.add(a, 'application/senml+json', 3, bytes(4));
    w.add(a, 'application/senml+cbor', 4, bytes(5, 6));
    const packed = w.finish();
    expect(packed.count).toBe(4);
    expect(packed.sources).toEqual(['c1', 'room/1', 'thing-1', 'mqtt', 'c2', '', 'thing-2', 'http']);
    expect(packed.contentTypes).toEqual([
      'application/senml+json',
      'application/octet-stream',
      'application/senml+cbor',
    ]);
    const out = unpackMessages(packed);
    expect(
      out.map((e) => [e.channel, e.subtopic, e.publisher, e.protocol, e.contentType, e.created]),
    ).toEqual([
      ['c1', 'room/1', 'thing-1', 'mqtt', 'application/senml+json', 1.5],
      ['c2', '', 'thing-2', 'http', 'application/octet-stream', 2],
      ['c1', 'room/1', 'thing-1', 'mqtt', 'application/senml+json', 3],
      ['c1', 'room/1', 'thing-1', 'mqtt', 'application/senml+cbor', 4],
    ]);
    expect(out.map((e) => [...e.payload])).toEqual([[1, 2, 3], [], [4], [5, 6]]);
  });

  it('starts every batch with fresh tables, also for sources seen in the previous one', () => {
    const w = new MessageBatchWriter();
    const a = new MessageSource('c1', '', 'p', 'mqtt');
    const b = new MessageSource('c2', '', 'p', 'mqtt');
    w.add(a, 't', 1, bytes(1));
    w.add(b, 't', 1, bytes(2));
    w.finish();
    w.add(b, 't', 2, bytes(3)); // b had slot 1 in the last batch: it must get slot 0 here
    const second = w.finish();
    expect(second.sources).toEqual(['c2', '', 'p', 'mqtt']);
    expect(unpackMessages(second).map((e) => e.channel)).toEqual(['c2']);
  });

  it('keeps two writers sharing a source apart', () => {
    const one = new MessageBatchWriter();
    const two = new MessageBatchWriter();
    const a = new MessageSource('c1', '', 'p', 'mqtt');
    const b = new MessageSource('c2', '', 'p', 'mqtt');
    one.add(b, 't', 1, bytes(1));
    two.add(a, 't', 1, bytes(1));
    two.add(b, 't', 1, bytes(1));
    one.add(a, 't', 1, bytes(1));
    expect(unpackMessages(one.finish()).map((e) => e.channel)).toEqual(['c2', 'c1']);
    expect(unpackMessages(two.finish()).map((e) => e.channel)).toEqual(['c1', 'c2']);
  });

  it('copies payloads and grows past its initial buffer', () => {
    const w = new MessageBatchWriter(1024);
    const source = new MessageSource('c', '', 'p', 'mqtt');
    const payload = new Uint8Array(700);
    for (let i = 0; i < 20; i++) {
      payload.fill(i);
      w.add(source, 't', i, payload);
    }
    payload.fill(255);
    const out = unpackMessages(w.finish());
    expect(out).toHaveLength(20);
    out.forEach((e, i) => {
      expect(e.payload.byteLength).toBe(700);
      expect(e.payload.every((x) => x === i)).toBe(true);
    });
  });

  it('reuses recycled buffers', () => {
    const w = new MessageBatchWriter(1024);
    const source = new MessageSource('c', '', 'p', 'mqtt');
    w.add(source, 't', 1, bytes(1));
    const first = w.finish();
    w.recycle(first.buffer);
    w.add(source, 't', 2, bytes(2));
    w.finish(); // the buffer handed out here was allocated before the recycle
    w.add(source, 't', 3, bytes(3));
    expect(w.finish().buffer).toBe(first.buffer);
  });

  it('refuses a batch that does not add up', () => {
    const packed = packMessages([
      {
        channel: 'c',
        subtopic: '',
        publisher: 'p',
        protocol: 'mqtt',
        contentType: 't',
        created: 1,
        payload: bytes(1, 2),
      },
    ]);
    expect(() => unpackMessages({ ...packed, byteLength: packed.byteLength - 1 })).toThrow(MessageBatchError);
    expect(() => unpackMessages({ ...packed, sources: [] })).toThrow(MessageBatchError);
    expect(() => unpackMessages({ ...packed, count: 2 })).toThrow(MessageBatchError);
    expect(() => unpackMessages({ ...packed, byteLength: packed.buffer.byteLength + 1 })).toThrow(
      MessageBatchError,
    );
  });
});
