import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TOPIC_LIMITS } from '../../../broker/core/topic.js';
import {
  PublishFields,
  publishSize,
  readPublish,
  TopicMemo,
  writeAckInto,
  writePublishInto,
} from '../../../broker/mqtt/publish-codec.js';

/** A PUBLISH with any topic bytes (mqtt-packet would refuse to build the invalid ones). */
function rawPublish(topic: Buffer, payload: string, packetId: number): Buffer {
  const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic]);
  const id = Buffer.from([packetId >> 8, packetId & 0xff]);
  const rest = Buffer.concat([body, id, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0x32, rest.length]), rest]);
}

describe('PUBLISH fast path', () => {
  it('remembers the last topic name without skipping the checks of a different one', () => {
    const memo = new TopicMemo();
    const out = new PublishFields();
    const read = (topic: Buffer | string, payload = 'x') => {
      const bytes = rawPublish(typeof topic === 'string' ? Buffer.from(topic) : topic, payload, 7);
      const error = readPublish(bytes, 0, 2, bytes.length, false, DEFAULT_TOPIC_LIMITS, out, memo);
      return error ?? out.topic;
    };
    const first = read('a/b');
    expect(first).toBe('a/b');
    expect(read('a/b', 'y')).toBe(first);
    expect(out.payload.toString()).toBe('y');
    expect(read('a/c')).toBe('a/c'); // same length, other bytes
    expect(read('a/+')).toBe('wildcard-in-name');
    expect(read(Buffer.from([0x61, 0x00, 0x62]))).toBe('null-character');
    expect(read(Buffer.from([0x61, 0x2f, 0xc3]))).toBe('invalid-utf8');
    expect(read('a/c')).toBe('a/c');
    expect(read('ü/x')).toBe('ü/x');
    const long = `${'l'.repeat(70)}/t`; // longer than the memo holds
    expect(read(long)).toBe(long);
    expect(read(long)).toBe(long);
    expect(read(`${'l'.repeat(70)}/+`)).toBe('wildcard-in-name');
  });

  it('writes PUBLISH and acknowledgements byte for byte like mqtt-packet, in place', () => {
    const payload = Buffer.from('payload bytes');
    for (const protocolVersion of [4, 5] as const) {
      for (const topic of ['t', 'a/ü/c']) {
        const expected = mqttPacket.generate(
          { cmd: 'publish', topic, payload, qos: 1, retain: true, dup: true, messageId: 0x1234 },
          { protocolVersion },
        );
        const topicBytes = Buffer.byteLength(topic);
        const v5 = protocolVersion === 5;
        const size = publishSize(topicBytes, payload.length, 1, v5);
        const buf = Buffer.alloc(size + 6, 0xee);
        const end = writePublishInto(buf, 3, topic, topicBytes, payload, 1, true, true, 0x1234, v5);
        expect(end).toBe(3 + size);
        expect(buf.subarray(3, end)).toEqual(expected);
        expect(buf.subarray(0, 3)).toEqual(Buffer.alloc(3, 0xee));
        expect(buf.subarray(end)).toEqual(Buffer.alloc(3, 0xee));
      }
    }
    const ack = Buffer.alloc(9);
    expect(writeAckInto(ack, 0, 4, 0xabcd)).toBe(4);
    expect(writeAckInto(ack, 4, 6, 0x0102, 0x92)).toBe(9);
    expect(ack.subarray(0, 4)).toEqual(mqttPacket.generate({ cmd: 'puback', messageId: 0xabcd }));
    // MQTT 5 with a reason code: the property length may be left out when there are none (§3.6.2.1).
    expect(ack.subarray(4)).toEqual(Buffer.from([0x62, 3, 0x01, 0x02, 0x92]));
    const pubcomp = Buffer.alloc(4);
    writeAckInto(pubcomp, 0, 7, 9);
    expect(pubcomp).toEqual(mqttPacket.generate({ cmd: 'pubcomp', messageId: 9 }));
  });
});
