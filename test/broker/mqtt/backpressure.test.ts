import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
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
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

describe('a slow subscriber never slows the others', () => {
  it('a stalled QoS 0 subscriber loses messages (counted) while a healthy one receives every message', async () => {
    tb = await startBroker({ limits: { maxOutboundBytes: 256 * 1024 } });
    const stalled = await RawClient.connected(tb.port, { clientId: 'stalled' });
    raws.push(stalled);
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'load', qos: 0 }] });
    await stalled.next('suback');
    stalled.socket.pause(); // stops reading: kernel buffers fill, then the broker's bound is reached

    const healthy = await connectClient(tb.url, { clientId: 'healthy' });
    clients.push(healthy);
    await healthy.subscribeAsync('load', { qos: 0 });
    const got = collect(healthy);

    const pub = await connectClient(tb.url, { clientId: 'publisher' });
    clients.push(pub);
    const total = 12_000;
    const payload = Buffer.alloc(2048, 0x5a);
    // QoS 1 publishes in batches: the publisher runs as fast as the broker acknowledges.
    for (let i = 0; i < total; i += 200) {
      await Promise.all(Array.from({ length: 200 }, () => pub.publishAsync('load', payload, { qos: 1 })));
    }
    await until(() => got.length === total, 15_000, 'healthy subscriber to receive everything');
    expect(got.length).toBe(total);
    const stalledSession = tb.broker.core.sessions.get('stalled')!;
    expect(stalledSession.stats.droppedQos0).toBeGreaterThan(0);
    expect(tb.broker.core.sessions.get('healthy')!.stats.droppedQos0).toBe(0);
  });

  it('a subscriber that stops acknowledging QoS 1 is disconnected once its queue is full', async () => {
    tb = await startBroker({ limits: { maxInflight: 10, maxQueued: 50 } });
    const silent = await RawClient.connected(tb.port, { clientId: 'silent' });
    raws.push(silent);
    silent.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q1', qos: 1 }] });
    await silent.next('suback');
    const pub = await connectClient(tb.url);
    clients.push(pub);
    for (let i = 0; i < 61; i++) await pub.publishAsync('q1', `m${i}`, { qos: 1 });
    await silent.whenClosed();
    expect(tb.broker.stats().overflowDisconnects).toBe(1);
  });
});
