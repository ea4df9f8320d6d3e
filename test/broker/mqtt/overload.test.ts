/** Overload protection: connection, subscription and topic limits, rate limits, and a flood. */
import { connect as netConnect } from 'node:net';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerOptions } from '../../../broker/index.js';
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
async function broker(options: BrokerOptions) {
  tb = await startBroker(options);
}
async function client(opts = {}) {
  const c = await connectClient(tb.url, opts);
  clients.push(c);
  return c;
}

describe('limits', () => {
  it('refuses connections beyond maxConnections', async () => {
    await broker({ limits: { maxConnections: 2 } });
    for (let i = 0; i < 2; i++) raws.push(await RawClient.connected(tb.port));
    const third = await RawClient.open(tb.port);
    raws.push(third);
    await third.whenClosed();
    expect(tb.broker.stats().refusedConnections).toBe(1);
  });

  it('refuses subscriptions beyond maxSubscriptionsPerClient', async () => {
    await broker({ limits: { maxSubscriptionsPerClient: 2 } });
    const c = await RawClient.connected(tb.port, {}, 5);
    raws.push(c);
    const subscriptions = ['a', 'b', 'c'].map((topic) => ({ topic, qos: 0 as const }));
    expect((await c.subscribe(subscriptions)).granted).toEqual([0, 0, 0x97]);
    // Re-subscribing to an existing filter is not a new subscription.
    expect((await c.subscribe([{ topic: 'a', qos: 1 }], 2)).granted).toEqual([1]);
  });

  it('refuses topics deeper than maxTopicLevels', async () => {
    await broker({ limits: { maxTopicLevels: 3 } });
    const c = await RawClient.connected(tb.port);
    raws.push(c);
    expect((await c.subscribe([{ topic: 'a/b/c/d', qos: 0 }])).granted).toEqual([0x80]);
    c.send({
      cmd: 'publish',
      topic: 'a/b/c/d',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
    });
    await c.whenClosed();
  });

  it('throttles a client over its publish rate without losing its messages', async () => {
    await broker({ limits: { publishRatePerSecond: 500 } });
    const sub = await client();
    await sub.subscribeAsync('rate', { qos: 0 });
    const c = await RawClient.connected(tb.port);
    raws.push(c);
    const one = mqttPacket.generate({
      cmd: 'publish',
      topic: 'rate',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
    });
    const started = Date.now();
    c.write(Buffer.concat(Array.from({ length: 1000 }, () => one)));
    await until(() => collect(sub).length === 1000, 10_000);
    // 500 allowed at once (the burst), the other 500 at 500/s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(tb.broker.stats().throttled).toBeGreaterThan(0);
  });
});

describe('a flood from one client', () => {
  it('leaves another client with bounded latency', async () => {
    await broker({ limits: { publishRatePerSecond: 20_000, byteRatePerSecond: 4 * 1024 * 1024 } });
    const flooder = netConnect({ port: tb.port, host: '127.0.0.1' });
    await new Promise((r) => flooder.once('connect', r));
    flooder.on('error', () => {});
    flooder.on('data', () => {});
    flooder.write(
      mqttPacket.generate({
        cmd: 'connect',
        clientId: 'flooder',
        protocolVersion: 4,
        keepalive: 0,
        clean: true,
      }),
    );
    const packet = mqttPacket.generate({
      cmd: 'publish',
      topic: 'flood/x',
      payload: Buffer.alloc(256),
      qos: 0,
      dup: false,
      retain: false,
    });
    const chunk = Buffer.concat(Array.from({ length: 200 }, () => packet));
    let flooding = true;
    const flood = () => {
      while (flooding && flooder.write(chunk)) {
        /* keep writing until the socket pushes back */
      }
    };
    flooder.on('drain', flood);
    flood();

    const probe = await client();
    await probe.subscribeAsync('probe', { qos: 1 });
    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const sent = performance.now();
      const before = collect(probe).length;
      await probe.publishAsync('probe', String(i), { qos: 1 });
      await until(() => collect(probe).length > before, 5000);
      latencies.push(performance.now() - sent);
    }
    flooding = false;
    flooder.destroy();
    expect(tb.broker.stats().throttled).toBeGreaterThan(0);
    // Generous bound: the point is that the probe is not starved while the flood goes on.
    expect(Math.max(...latencies)).toBeLessThan(1000);
  });
});
