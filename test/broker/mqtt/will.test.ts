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
const will = { topic: 'wills/x', payload: Buffer.from('gone'), qos: 1 as const, retain: false };

async function watcher() {
  const c = await connectClient(tb.url);
  clients.push(c);
  await c.subscribeAsync('wills/#', { qos: 1 });
  return collect(c);
}

beforeEach(async () => {
  tb = await startBroker({ limits: { sweepIntervalMs: 50 } });
});
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await tb.close();
});

describe('will messages', () => {
  it('are published when the socket is destroyed', async () => {
    const got = await watcher();
    const c = await connectClient(tb.url, { clientId: 'w1', will });
    c.stream.destroy();
    await until(() => got.length === 1);
    expect(got[0]!.payload.toString()).toBe('gone');
    await closeClient(c, true);
  });

  it('are not published after a clean DISCONNECT', async () => {
    const got = await watcher();
    const c = await connectClient(tb.url, { clientId: 'w2', will });
    await closeClient(c);
    const p = await connectClient(tb.url);
    clients.push(p);
    await p.publishAsync('wills/marker', 'marker', { qos: 1 });
    await until(() => got.length === 1);
    expect(got[0]!.topic).toBe('wills/marker');
  });

  it('are published on keepalive expiry (1.5 x keepalive)', async () => {
    const got = await watcher();
    const started = Date.now();
    const raw = await RawClient.connected(tb.port, { clientId: 'w3', keepalive: 1, will });
    raws.push(raw);
    await raw.whenClosed(4000);
    const elapsed = Date.now() - started;
    await until(() => got.length === 1);
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(tb.broker.stats().keepaliveTimeouts).toBe(1);
  });

  it('are published when the client commits a protocol error, which closes only that client', async () => {
    const got = await watcher();
    const raw = await RawClient.connected(tb.port, { clientId: 'w4', will });
    raws.push(raw);
    raw.send({
      cmd: 'publish',
      topic: 'bad/+',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
    });
    await raw.whenClosed();
    await until(() => got.length === 1);
    expect((got[0]!.packet as IPublishPacket).topic).toBe('wills/x');
  });

  it('are published when the session is taken over', async () => {
    const got = await watcher();
    const first = await connectClient(tb.url, { clientId: 'w5', will });
    const second = await connectClient(tb.url, { clientId: 'w5' });
    clients.push(first, second);
    await until(() => got.length === 1);
    expect(got[0]!.payload.toString()).toBe('gone');
  });
});
