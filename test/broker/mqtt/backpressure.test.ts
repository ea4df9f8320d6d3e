import type { MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../broker/core/logger.js';
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
    await stalled.subscribe([{ topic: 'load', qos: 0 }]);
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

  it('a subscriber that stops acknowledging QoS 1 stays connected: messages beyond its queue are dropped and counted', async () => {
    const warnings: unknown[][] = [];
    const logger = { ...silentLogger, warn: (...args: unknown[]) => void warnings.push(args) };
    tb = await startBroker({ limits: { maxInflight: 10, maxQueued: 50 }, logger });
    const silent = await RawClient.connected(tb.port, { clientId: 'silent' });
    raws.push(silent);
    await silent.subscribe([{ topic: 'q1', qos: 1 }]);
    const pub = await connectClient(tb.url);
    clients.push(pub);
    // 10 in flight + 50 queued; the last 3 find the queue full. Every publish is still acknowledged.
    for (let i = 0; i < 63; i++) await pub.publishAsync('q1', `m${i}`, { qos: 1 });
    const session = tb.broker.core.sessions.get('silent')!;
    expect(session.inflightCount).toBe(10);
    expect(session.queuedCount).toBe(50);
    expect(session.stats.droppedOverflow).toBe(3);
    expect(tb.broker.stats().droppedOverflow).toBe(3);
    // One log line per overflow episode, not one per dropped message.
    expect(warnings.filter((w) => String(w[1]).startsWith('session queue full'))).toHaveLength(1);

    // Still connected: acknowledging lets the queued messages through, in order, and nothing else.
    const got: string[] = [];
    while (got.length < 60) {
      const p = (await silent.next('publish')) as IPublishPacket;
      got.push(p.payload.toString());
      silent.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`));
    expect(silent.closed).toBe(false);
    // Once the queue has drained, new messages are delivered again.
    await pub.publishAsync('q1', 'after', { qos: 1 });
    expect(((await silent.next('publish')) as IPublishPacket).payload.toString()).toBe('after');
    expect(session.stats.droppedOverflow).toBe(3);
  });
});
