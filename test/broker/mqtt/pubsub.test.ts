import type { MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  closeClient,
  collect,
  connectClient,
  RawClient,
  startBroker,
  type TestBroker,
  until,
} from '../../helpers.js';

let tb: TestBroker;
const clients: MqttClient[] = [];
const raws: RawClient[] = [];
async function client(opts = {}) {
  const c = await connectClient(tb.url, opts);
  clients.push(c);
  return c;
}
async function raw(...args: Parameters<typeof RawClient.connected> extends [number, ...infer R] ? R : never) {
  const c = await RawClient.connected(tb.port, ...args);
  raws.push(c);
  return c;
}

beforeEach(async () => {
  tb = await startBroker();
});
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

describe('publish and subscribe (mqtt.js)', () => {
  it('delivers QoS 0, 1 and 2 with identical payload bytes', async () => {
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('t/#', { qos: 2 });
    const pub = await client();
    const payloads = [Buffer.from([0, 1, 2, 255]), Buffer.alloc(3000, 7), Buffer.from('ü')];
    await pub.publishAsync('t/0', payloads[0]!, { qos: 0 });
    await pub.publishAsync('t/1', payloads[1]!, { qos: 1 });
    await pub.publishAsync('t/2', payloads[2]!, { qos: 2 });
    await until(() => got.length === 3);
    expect(got.map((m) => m.topic)).toEqual(['t/0', 't/1', 't/2']);
    expect(got.map((m) => m.packet.qos)).toEqual([0, 1, 2]);
    for (const [i, m] of got.entries()) expect(m.payload.equals(payloads[i]!)).toBe(true);
  });

  it('delivers at min(published QoS, granted QoS)', async () => {
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('q', { qos: 1 });
    const pub = await client();
    await pub.publishAsync('q', 'two', { qos: 2 });
    await pub.publishAsync('q', 'zero', { qos: 0 });
    await until(() => got.length === 2);
    expect(got.map((m) => m.packet.qos)).toEqual([1, 0]);
  });

  it('delivers once, at the highest granted QoS, through overlapping subscriptions', async () => {
    const sub = await raw({ clientId: 'overlap' });
    await sub.subscribe([
      { topic: 'o/+', qos: 0 },
      { topic: 'o/#', qos: 2 },
    ]);
    const pub = await client();
    await pub.publishAsync('o/x', 'once', { qos: 1 });
    await pub.publishAsync('o/y', 'marker', { qos: 0 });
    const first = (await sub.next('publish')) as IPublishPacket;
    expect([first.topic, first.qos]).toEqual(['o/x', 1]);
    // The next packet is the marker, not a second copy of o/x.
    const second = (await sub.next('publish')) as IPublishPacket;
    expect(second.topic).toBe('o/y');
  });

  it('retains, replaces and clears, and delivers retained through a/+/c', async () => {
    const pub = await client();
    await pub.publishAsync('a/1/c', 'first', { qos: 1, retain: true });
    await pub.publishAsync('a/1/c', 'second', { qos: 1, retain: true });
    await pub.publishAsync('a/2/c', 'other', { qos: 1, retain: true });
    await pub.publishAsync('a/2/d', 'no match', { qos: 1, retain: true });
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('a/+/c', { qos: 1 });
    await until(() => got.length === 2);
    expect(got.map((m) => `${m.topic}=${m.payload}`).sort()).toEqual(['a/1/c=second', 'a/2/c=other']);
    expect(got.every((m) => m.packet.retain)).toBe(true);

    await pub.publishAsync('a/1/c', '', { qos: 1, retain: true }); // clear
    const later = await client();
    const got2 = collect(later);
    await later.subscribeAsync('a/+/c', { qos: 1 });
    await until(() => got2.length === 1);
    expect(got2[0]!.topic).toBe('a/2/c');
  });

  it('forwards a retained publish to live subscribers with retain 0 (MQTT 3.1.1)', async () => {
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('live', { qos: 0 });
    const pub = await client();
    await pub.publishAsync('live', 'x', { qos: 1, retain: true });
    await until(() => got.length === 1);
    expect(got[0]!.packet.retain).toBe(false);
  });

  it('unsubscribes', async () => {
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync('u', { qos: 1 });
    await sub.unsubscribeAsync('u');
    const pub = await client();
    await pub.publishAsync('u', 'x', { qos: 1 });
    await sub.subscribeAsync('u2', { qos: 1 });
    await pub.publishAsync('u2', 'y', { qos: 1 });
    await until(() => got.length === 1);
    expect(got[0]!.topic).toBe('u2');
  });

  it('does not match $ topics with a leading wildcard', async () => {
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync(['#', '$app/#'], { qos: 1 });
    const pub = await client();
    await pub.publishAsync('$app/x', 'dollar', { qos: 1 });
    await pub.publishAsync('plain', 'p', { qos: 1 });
    await until(() => got.length === 2);
    expect(got.map((m) => m.topic).sort()).toEqual(['$app/x', 'plain']);
  });

  it('speaks MQTT 3.1 (MQIsdp) and MQTT 5 on the same broker', async () => {
    const v3 = await client({ protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'old' });
    const v5 = await client({ protocolVersion: 5 });
    const got3 = collect(v3);
    const got5 = collect(v5);
    await v3.subscribeAsync('mixed', { qos: 1 });
    await v5.subscribeAsync('mixed', { qos: 1 });
    await v5.publishAsync('mixed', 'hi', {
      qos: 1,
      properties: { contentType: 'text/plain', userProperties: { k: 'v' } },
    });
    await until(() => got3.length === 1 && got5.length === 1);
    expect(got5[0]!.packet.properties?.contentType).toBe('text/plain');
    expect(got5[0]!.packet.properties?.userProperties).toEqual({ k: 'v' });
    expect(got3[0]!.payload.toString()).toBe('hi');
  });
});

describe('outbound batching', () => {
  it('keeps the order and bytes of small and large packets written in one tick', async () => {
    const sub = await raw({ clientId: 'batched' });
    await sub.subscribe([
      { topic: 'b/0', qos: 0 },
      { topic: 'b/1', qos: 1 },
    ]);
    // Synchronous publishes: everything below goes out in the same flush. Small packets are written in
    // place (growing the batch buffer several times), large QoS 0 ones are queued by reference. The
    // 27 QoS 1 messages stay within the in-flight window, so none waits behind the QoS 0 ones.
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      const size = i % 7 === 3 ? 3000 : 20 + (i % 5) * 37;
      const payload = `${i}:`.padEnd(size, String.fromCharCode(97 + (i % 26)));
      const qos = i % 3 === 0 ? 0 : 1;
      tb.broker.publish({ topic: `b/${qos}`, payload, qos });
      sent.push(payload);
    }
    const got: string[] = [];
    while (got.length < sent.length) {
      const p = (await sub.next('publish')) as IPublishPacket;
      got.push(p.payload.toString());
      if (p.qos === 1) sub.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(got).toEqual(sent);
  });
});
